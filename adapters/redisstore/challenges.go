package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Challenges is a ports.Challenges on Redis: each challenge is one STRING that expires by itself
// (SET NX PXAT), and Take is one GETDEL, so of concurrent takers exactly one gets it. Safe for
// concurrent use.
type Challenges struct {
	client redis.UniversalClient
	keys   keys
}

var _ ports.Challenges = (*Challenges)(nil)

// NewChallenges returns a challenge store on client whose keys start with prefix.
func NewChallenges(client redis.UniversalClient, prefix string) (*Challenges, error) {
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	return &Challenges{client: client, keys: k}, nil
}

// challengeValue is the JSON stored for one challenge (the hash and purpose are in the key).
type challengeValue struct {
	UserID    string `json:"u,omitempty"`
	Data      []byte `json:"d,omitempty"`
	Attempts  int    `json:"a,omitempty"`
	CreatedAt int64  `json:"c"` // Unix ms
	ExpiresAt int64  `json:"e"` // Unix ms
}

// Put stores c until c.ExpiresAt; a key already held is domain.ErrConflict.
func (c *Challenges) Put(ctx context.Context, ch domain.Challenge) error {
	v, err := json.Marshal(challengeValue{UserID: ch.UserID, Data: ch.Data, Attempts: ch.Attempts,
		CreatedAt: ch.CreatedAt.UnixMilli(), ExpiresAt: ch.ExpiresAt.UnixMilli()})
	if err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	ok, err := c.client.SetArgs(ctx, c.keys.challenge(string(ch.Purpose), ch.Hash), v,
		redis.SetArgs{Mode: "NX", ExpireAt: ch.ExpiresAt}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("put challenge: %w", domain.ErrConflict)
	case err != nil:
		return unavailable("put challenge", err)
	case ok != "OK":
		return fmt.Errorf("put challenge: %w", domain.ErrConflict)
	}
	return nil
}

// Take removes and returns the live challenge in one GETDEL.
func (c *Challenges) Take(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	raw, err := c.client.GetDel(ctx, c.keys.challenge(string(purpose), hash)).Bytes()
	return decodeChallenge("take challenge", raw, err, hash, purpose, now)
}

// Get returns the live challenge in one GET and keeps it.
func (c *Challenges) Get(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	raw, err := c.client.Get(ctx, c.keys.challenge(string(purpose), hash)).Bytes()
	return decodeChallenge("get challenge", raw, err, hash, purpose, now)
}

// decodeChallenge turns the answer (raw, err) of a GET or GETDEL of a challenge's key into the
// challenge, if it is live at now.
func decodeChallenge(op string, raw []byte, err error, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return domain.Challenge{}, fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	case err != nil:
		return domain.Challenge{}, unavailable(op, err)
	}
	var v challengeValue
	if err := json.Unmarshal(raw, &v); err != nil {
		return domain.Challenge{}, fmt.Errorf("%s: corrupt value: %w", op, err)
	}
	ch := domain.Challenge{Hash: hash, Purpose: purpose, UserID: v.UserID, Data: v.Data, Attempts: v.Attempts,
		CreatedAt: time.UnixMilli(v.CreatedAt).UTC(), ExpiresAt: time.UnixMilli(v.ExpiresAt).UTC()}
	if !now.Before(ch.ExpiresAt) {
		return domain.Challenge{}, fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	}
	return ch, nil
}
