package authz

// OIDCMetadata are OpenID Connect Discovery 1.0's members of the metadata
// document (CONFORMANCE I5), served at both well-known locations: a client
// reading either finds an OpenID provider that says what it does.
type OIDCMetadata struct {
	UserInfoEndpoint                 string   `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint               string   `json:"end_session_endpoint,omitempty"`
	SubjectTypesSupported            []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                  []string `json:"claims_supported,omitempty"`
	ClaimsParameterSupported         bool     `json:"claims_parameter_supported"`
	RequestParameterSupported        bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported     bool     `json:"request_uri_parameter_supported"`
}

func (s *Server) oidcMetadata() OIDCMetadata {
	return OIDCMetadata{
		UserInfoEndpoint:   s.endpoint(PathUserInfo),
		EndSessionEndpoint: s.endpoint(PathLogout),
		// Pairwise subjects are not supported (README).
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: s.IDTokenAlgsSupported(),
		ClaimsSupported:                  claimNames,
		// Said out loud: their defaults (false, true, true) would claim
		// request objects are accepted.
		ClaimsParameterSupported:     false,
		RequestParameterSupported:    false,
		RequestURIParameterSupported: false,
	}
}
