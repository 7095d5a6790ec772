package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// SoftCredential is a WebAuthn credential of a software authenticator written for tests: an
// ES256 key pair, "none" attestation, a signature counter it raises with each assertion. It
// lets a test make registrations and assertions a real authenticator would, and bent ones a
// real one would not (another origin, another relying-party id, a counter that goes back).
type SoftCredential struct {
	ID         []byte
	UserHandle []byte
	RPID       string
	SignCount  uint32
	key        *ecdsa.PrivateKey
}

// AssertOptions bends an assertion: Origin is the page's origin (required); RPID, when set,
// replaces the relying-party id of the options; Count, when set, is sent as the signature
// counter instead of the next one.
type AssertOptions struct {
	Origin string
	RPID   string
	Count  *uint32
}

var b64 = base64.RawURLEncoding

// webauthn flags of authenticator data.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// SoftCreate answers creation options (the JSON a server's registration begin returns, with
// its publicKey member) as navigator.credentials.create on a page of origin would, and
// returns the response (PublicKeyCredential JSON) and the new credential.
func SoftCreate(options []byte, origin string) ([]byte, *SoftCredential, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, fmt.Errorf("creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	c := &SoftCredential{ID: make([]byte, 32), UserHandle: handle, RPID: o.PublicKey.RP.ID, key: key}
	_, _ = rand.Read(c.ID)
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	raw := pub.Bytes() // 0x04 | X | Y
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return nil, nil, err
	}
	rpHash := sha256.Sum256([]byte(c.RPID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, flagUP|flagUV|flagAT)
	auth = binary.BigEndian.AppendUint32(auth, c.SignCount)
	auth = append(auth, make([]byte, 16)...) // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(c.ID)))
	auth = append(auth, c.ID...)
	auth = append(auth, cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", o.PublicKey.Challenge, origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	return resp, c, err
}

// Assert answers request options (the JSON a server's login begin returns) as
// navigator.credentials.get would with this credential, bent by o.
func (c *SoftCredential) Assert(options []byte, o AssertOptions) ([]byte, error) {
	var r requestOptions
	if err := json.Unmarshal(options, &r); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	rpid := r.PublicKey.RPID
	if o.RPID != "" {
		rpid = o.RPID
	}
	if o.Count != nil {
		c.SignCount = *o.Count
	} else {
		c.SignCount++
	}
	rpHash := sha256.Sum256([]byte(rpid))
	auth := append(append([]byte{}, rpHash[:]...), flagUP|flagUV)
	auth = binary.BigEndian.AppendUint32(auth, c.SignCount)
	cd := clientData("webauthn.get", r.PublicKey.Challenge, o.Origin)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(auth),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.UserHandle),
		},
	})
}
