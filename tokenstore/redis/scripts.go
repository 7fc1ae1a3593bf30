// The Lua scripts of the Redis store: single-use entries, redemption, revocation and client updates.

package redis

import goredis "github.com/redis/go-redis/v9"

// Every script touches exactly one key (KEYS[1]), so it is atomic on a
// standalone server and never crosses hash slots on a Cluster.

// putOnce stores a single-use entry (code or refresh token) unless a live
// one holds the key. A hash: g = grant JSON, p = payload, u = the nonce of
// the redemption that won, once redeemed.
//
// ARGV: grant, payload, expiry (Unix ms). Returns 1 stored, 0 exists.
var putOnce = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'p', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1`)

// take redeems a single-use entry. The first caller writes its nonce into u
// and wins; every other caller sees a different nonce and gets the grant
// without the payload (reuse). The entry stays, with its expiry, as the
// tombstone that tells reuse from an unknown key. A caller that retries
// after a lost reply presents the same nonce and still wins, so go-redis may
// retry this script safely.
//
// ARGV: nonce. Returns {0} unknown, {1, grant} reused, {2, grant, payload} won.
var take = goredis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 'g', 'p', 'u')
if not e[1] then return {0} end
if e[3] and e[3] ~= ARGV[1] then return {1, e[1]} end
if not e[3] then redis.call('HSET', KEYS[1], 'u', ARGV[1]) end
return {2, e[1], e[2] or ''}`)

// revoke puts an id on the deny-list until ARGV[1] (Unix ms, also the
// value), never shortening a later entry, and publishes the id so other
// instances drop it from their caches. Publishing in the same script means
// a subscriber that hears of it finds the entry already there.
//
// ARGV: until, channel, id.
var revoke = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur < tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`)

// updateClient replaces a client record only if it exists.
//
// ARGV: id, record JSON. Returns 1 updated, 0 missing.
var updateClient = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`)
