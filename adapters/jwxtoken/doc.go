// Package jwxtoken is the access-token adapter: it implements ports.TokenIssuer and
// ports.TokenVerifier with compact JWS (RFC 7515/7519, typ "at+jwt" after RFC 9068) built on
// github.com/lestrrat-go/jwx/v2, and serves the public key set (JWKS).
//
// # Keys
//
// Keys come from one of three places, chosen by Config:
//   - Config.Secret: HS256 with that secret; nothing is published.
//   - Config.KeyFile: one PEM private key (EdDSA, ES256 or RS256) shared by every instance;
//     the key store is not used and RotateSigningKey is refused.
//   - otherwise the ports.KeyStore shared by every instance. Private keys are stored as PKCS#8
//     DER sealed with AES-256-GCM under Config.KeyEncryptionKey (the kid is the associated
//     data). When the store holds no usable key of the configured algorithm, New generates one.
//
// The key set lives in memory. Verification finds a key only by `kid` in that set, and the
// key's algorithm must equal the header's; nothing in a token (jwk, jku, x5u, x5c) ever causes
// a lookup or a request. Keys of another algorithm than Config.Alg are neither trusted nor
// published.
//
// # Rotation and reloading
//
// RotateSigningKey adds a new key whose CreatedAt lies Config.PublishAhead in the future and retires the
// current ones at that same instant. Until then every instance publishes and accepts the new key
// but keeps signing with the old one, so no instance ever sees a kid it does not know, provided
// each reloads more often than PublishAhead. A retired key keeps verifying, and stays in the
// JWKS, until RetiredAt + AccessTTL + Leeway; the next Reload after that deletes it from the store.
// JWKSMaxAge, the time a copy of the JWKS may be cached, is PublishAhead - ReloadInterval (at most
// five minutes), so that a copy taken before an instance learnt of the new key is stale before
// that key signs.
//
// Reload re-reads the store. Module starts a poller (every Config.ReloadInterval) through the fx
// lifecycle; without fx, call StartPolling or Reload on a ticker.
//
// # Verification
//
// Verify is the hot path. It rejects, before any decoding and without allocating, tokens longer
// than MaxTokenLength, any byte outside the base64url alphabet and '.', and anything but exactly
// three non-empty dot-separated parts (so JWE and JSON serialisations never reach a parser); it
// then requires canonical unpadded base64url in every part. A header
// byte-identical to one this package issues is recognised by a map lookup without JSON parsing;
// any other header is parsed strictly (typ at+jwt, no crit, no b64, known kid, alg equal to the
// key's). The signature is checked with the key's own algorithm only, and the claims are then
// decoded strictly (numeric dates as integers, aud as a string, iss, aud, sub, sid, jti, iat,
// nbf and exp all required). Every failure wraps domain.ErrUnauthenticated.
//
// A token that passed all of that is remembered (Config.CacheSize entries, an otter cache) by
// its exact bytes until its exp, so the next request with the same token skips the signature
// check; a hit still requires the token's key to be in the current key set and inside its
// verification window, and a key set that loses a key empties the cache (cache.go).
package jwxtoken
