// RFC 8414 authorization server metadata, and which of our endpoints a request path reaches.

package authz

import (
	"net/url"
	"strings"
)

// endpoint is the absolute URL of one of our paths under the issuer.
func (s *Server) endpoint(path string) string {
	return strings.TrimSuffix(s.cfg.Issuer, "/") + path
}

// Metadata is the RFC 8414 authorization server metadata (CONFORMANCE V3).
// Every endpoint is an absolute URL under the issuer; a member that does
// not apply is left out, never sent as "".
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	OIDCMetadata                                        // OpenID Connect Discovery's members (oidc_metadata.go)

	// RegistrationEndpoint (RFC 7591) and ClientIDMetadataDocumentSupported
	// (Client ID Metadata Documents) only when on.
	RegistrationEndpoint              string `json:"registration_endpoint,omitempty"`
	ClientIDMetadataDocumentSupported bool   `json:"client_id_metadata_document_supported,omitempty"`
}

// Metadata returns the server's metadata document.
func (s *Server) Metadata() Metadata {
	pkce := []string{PKCES256}
	if s.cfg.PKCEAllowPlain {
		pkce = append(pkce, PKCEPlain)
	}
	md := Metadata{
		Issuer:                            s.cfg.Issuer,
		AuthorizationEndpoint:             s.endpoint(PathAuthorize),
		TokenEndpoint:                     s.endpoint(PathToken),
		RevocationEndpoint:                s.endpoint(PathRevoke),
		IntrospectionEndpoint:             s.endpoint(PathIntrospect),
		JWKSURI:                           s.endpoint(PathJWKS),
		ScopesSupported:                   s.cfg.Scopes.Names(),
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		// Public clients revoke their own tokens with client_id alone (RFC
		// 7009 §2.1); introspection needs a confidential client.
		RevocationEndpointAuthMethodsSupported:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:             pkce,
		PromptValuesSupported:                     []string{"none", "login", "consent"},
		// RFC 9207: every authorization response carries iss.
		AuthorizationResponseISSParameterSupported: true,
		OIDCMetadata: s.oidcMetadata(),
	}
	if s.register != nil {
		md.RegistrationEndpoint = s.endpoint(PathRegister)
	}
	md.ClientIDMetadataDocumentSupported = s.registry.Documents != nil
	return md
}

// issuerPath is the issuer's path without a trailing slash ("" for
// https://host or https://host/).
func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// EndpointPath names the endpoint a request path reaches: one of the Path
// constants, or "" when the path is not ours. For an issuer with a path
// (https://host/tenant) the endpoints are served under it (/tenant/oauth/token)
// as well as bare (/oauth/token, for a handle_path that strips the prefix),
// and the metadata also at its RFC 8414 §3.1 location
// (/.well-known/oauth-authorization-server/tenant).
func (s *Server) EndpointPath(path string) string {
	if prefix := s.prefix; prefix != "" {
		if path == PathMetadata+prefix {
			return PathMetadata
		}
		if rest, ok := strings.CutPrefix(path, prefix); ok && strings.HasPrefix(rest, "/") {
			path = rest
		}
	}
	switch path {
	case PathAuthorize, PathToken, PathRevoke, PathIntrospect, PathJWKS, PathMetadata, PathOIDCMetadata, PathUserInfo, PathLogout:
		return path
	case PathRegister:
		if s.register != nil {
			return path
		}
	}
	return ""
}
