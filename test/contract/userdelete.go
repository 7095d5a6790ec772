package contract

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// UserStores is a user store and the stores of the users' second factors, over one backend.
type UserStores struct {
	Users    ports.UserStore
	TOTP     ports.TOTPFactors
	Codes    ports.RecoveryCodes
	Passkeys ports.Passkeys
}

// UserDeleteRemovesSecondFactors runs the part of the ports.UserStore contract that reaches the
// second-factor stores: deleting a user removes its TOTP factor, recovery codes and passkeys,
// and only its own; deleting a missing user removes nothing. open must return fresh stores
// over one backend.
func UserDeleteRemovesSecondFactors(t *testing.T, open func(t *testing.T) UserStores) {
	t.Helper()
	st := open(t)
	ctx := t.Context()
	enrol := func(id string) {
		t.Helper()
		u := domain.User{ID: id, Email: id + "@example.com", Roles: []domain.Role{domain.RoleUser}, PasswordHash: "$argon2id$x",
			CreatedAt: now(), UpdatedAt: now()}
		if err := st.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		f := pendingFactor(id)
		if err := st.TOTP.Put(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := st.TOTP.Confirm(ctx, id, f.Secret, 7, now()); err != nil {
			t.Fatal(err)
		}
		if err := st.Codes.Replace(ctx, id, [][]byte{randomBytes(32), randomBytes(32)}, now()); err != nil {
			t.Fatal(err)
		}
		if err := st.Passkeys.Add(ctx, domain.Passkey{ID: uuid.NewString(), UserID: id, CredentialID: randomBytes(16), Name: "key",
			Credential: randomBytes(40), CreatedAt: now()}); err != nil {
			t.Fatal(err)
		}
	}
	factors := func(id string) (totp bool, codes, passkeys int) {
		t.Helper()
		_, err := st.TOTP.Get(ctx, id)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			t.Fatal(err)
		}
		totp = err == nil
		if codes, err = st.Codes.Count(ctx, id); err != nil {
			t.Fatal(err)
		}
		list, err := st.Passkeys.ByUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return totp, codes, len(list)
	}
	gone, kept := uuid.NewString(), uuid.NewString()
	enrol(gone)
	enrol(kept)
	if totp, codes, keys := factors(gone); !totp || codes != 2 || keys != 1 {
		t.Fatalf("before: TOTP %v, %d codes, %d passkeys", totp, codes, keys)
	}
	if err := st.Users.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Users.ByID(ctx, gone); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("the deleted user: %v", err)
	}
	if totp, codes, keys := factors(gone); totp || codes != 0 || keys != 0 {
		t.Errorf("after Delete the user still has: TOTP %v, %d recovery codes, %d passkeys", totp, codes, keys)
	}
	if totp, codes, keys := factors(kept); !totp || codes != 2 || keys != 1 {
		t.Errorf("another user's factors went too: TOTP %v, %d codes, %d passkeys", totp, codes, keys)
	}
	// A missing user is ErrNotFound and takes nobody's factors.
	if err := st.Users.Delete(ctx, uuid.NewString()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Delete of a missing user = %v, want ErrNotFound", err)
	}
	if totp, codes, keys := factors(kept); !totp || codes != 2 || keys != 1 {
		t.Errorf("deleting a missing user took factors: TOTP %v, %d codes, %d passkeys", totp, codes, keys)
	}
}
