package application

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// SigningKeyView is one token-signing key as an operator sees it: never its private material.
type SigningKeyView struct {
	ID        string
	Algorithm string
	CreatedAt time.Time // when it signs from (a rotation publishes a key ahead of that)
	RetiredAt time.Time // when it stopped or stops signing; zero while it has no successor
}

// SigningKeyRotation is the result of one rotation of the signing keys.
type SigningKeyRotation struct {
	ID        string           // the new key
	SignsFrom time.Time        // when the new key starts signing
	Retired   []SigningKeyView // the keys that sign until SignsFrom
}

// SigningKeys lists and rotates the token-signing keys shared by every instance. Only admins
// (and the operator) may; every rotation is audited. It is the one path to a rotation, for the
// CLI and any future admin route alike.
type SigningKeys struct {
	keys    ports.KeyStore
	rotator ports.SigningKeyRotator
	audit   *Auditor
}

// NewSigningKeys wires the signing-key use case.
func NewSigningKeys(keys ports.KeyStore, rotator ports.SigningKeyRotator, audit *Auditor) *SigningKeys {
	return &SigningKeys{keys: keys, rotator: rotator, audit: audit}
}

// List returns every signing key, newest first.
func (s *SigningKeys) List(ctx context.Context, actor Principal) ([]SigningKeyView, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return nil, domain.ErrForbidden
	}
	ks, err := s.keys.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	out := make([]SigningKeyView, len(ks))
	for i, k := range ks {
		out[i] = signingKeyView(k)
	}
	return out, nil
}

// Rotate adds a new signing key and retires the ones signing now (see
// ports.SigningKeyRotator), and records the rotation in the audit trail. Static keys are
// domain.ErrStaticKeys.
func (s *SigningKeys) Rotate(ctx context.Context, actor Principal) (SigningKeyRotation, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return SigningKeyRotation{}, domain.ErrForbidden
	}
	before, err := s.keys.Keys(ctx)
	if err != nil {
		return SigningKeyRotation{}, fmt.Errorf("rotate signing keys: %w", err)
	}
	kid, err := s.rotator.RotateSigningKey(ctx)
	if err != nil {
		return SigningKeyRotation{}, fmt.Errorf("rotate signing keys: %w", err)
	}
	after, err := s.keys.Keys(ctx)
	if err != nil {
		return SigningKeyRotation{}, fmt.Errorf("rotate signing keys: reload: %w", err)
	}
	out := SigningKeyRotation{ID: kid}
	var alg string
	for _, k := range after {
		if k.ID == kid {
			out.SignsFrom, alg = k.CreatedAt, k.Algorithm
		}
	}
	for _, k := range before {
		if k.Algorithm == alg && (k.RetiredAt.IsZero() || k.RetiredAt.After(out.SignsFrom)) {
			out.Retired = append(out.Retired, signingKeyView(k))
		}
	}
	s.audit.record(ctx, domain.EventKeyRotation, actor.UserID, "", "ok",
		"kid="+kid+" signs_from="+out.SignsFrom.UTC().Format(time.RFC3339))
	return out, nil
}

func signingKeyView(k domain.SigningKey) SigningKeyView {
	return SigningKeyView{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt}
}
