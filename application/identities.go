package application

// Identities: how the use cases take and look up email addresses and usernames. Folding and
// refusing is ports.IdentityNormalizer's rule alone; this file applies it: findByEmail finds the
// account an address names (also an account stored, before the rule, under a spelling the rule
// now folds or refuses), and RenormalizeIdentities rewrites stored identities to their folded
// form, reporting instead of merging two accounts that fold to one.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// legacyEmail is the form in which an address was stored before identities were folded
// (trimmed and lower-cased), or "" when it cannot be one: an address with a control character
// (never stored, and a NUL is refused by some databases' text columns) or not UTF-8.
func legacyEmail(raw string) string {
	if !utf8.ValidString(raw) || len(raw) > domain.MaxEmailLength+8 {
		return ""
	}
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" || strings.IndexFunc(e, unicode.IsControl) >= 0 {
		return ""
	}
	return e
}

// findByEmail finds the account raw names. An account stored under exactly raw's trimmed,
// lower-cased spelling is that account (one that renormalisation left alone because its
// address collides with another's or is now refused: its owner still logs in by typing it);
// otherwise raw is normalised and looked up in its folded form. key is the form looked up (the
// throttling key of an unknown name). invalid is the normaliser's refusal when raw cannot be
// normalised and no account is stored under it; err is then domain.ErrNotFound.
func findByEmail(ctx context.Context, users ports.UserStore, idn ports.IdentityNormalizer, raw string) (u domain.User, key string, invalid *domain.FieldError, err error) {
	email, invalid := idn.Email(raw)
	if legacy := legacyEmail(raw); legacy != "" && legacy != email {
		u, err := users.ByEmail(ctx, legacy)
		if err == nil || !errors.Is(err, domain.ErrNotFound) {
			return u, legacy, nil, err
		}
		if invalid != nil {
			return domain.User{}, legacy, invalid, err
		}
	}
	if invalid != nil {
		return domain.User{}, truncate(strings.ToLower(strings.TrimSpace(raw)), 320), invalid,
			fmt.Errorf("%w: %s", domain.ErrNotFound, invalid.Code)
	}
	u, err = users.ByEmail(ctx, email)
	return u, email, nil, err
}

// RenormalizeReport is what RenormalizeIdentities found and did.
type RenormalizeReport struct {
	Scanned int
	// Changed lists the identities rewritten to their normalised form (or, in a dry run, that
	// would be).
	Changed []IdentityChange
	// Collisions lists identities that two or more accounts normalise to. Those accounts are
	// left as they are (each still logs in by its stored spelling); an operator decides.
	Collisions []IdentityCollision
	// Refused lists stored identities the normaliser now refuses (an invisible character, mixed
	// scripts): left as they are, still able to log in by their stored spelling.
	Refused []IdentityRefusal
}

// IdentityChange is one stored identity rewritten.
type IdentityChange struct {
	UserID   string
	Field    string // "email" or "username"
	From, To string
}

// IdentityCollision is one normalised identity held by several accounts.
type IdentityCollision struct {
	Field    string
	Identity string // the normalised form
	UserIDs  []string
}

// IdentityRefusal is one stored identity the normaliser refuses.
type IdentityRefusal struct {
	UserID string
	Field  string
	Code   string // the normaliser's field error code
}

// renormalizePage is how many users RenormalizeIdentities reads at once.
const renormalizePage = 500

// RenormalizeIdentities rewrites every stored email address and username that is not in its
// normalised form (see ports.IdentityNormalizer) — except where two accounts normalise to the
// same identity: those are reported in Collisions and all of them are left as they are, never
// merged. Identities the normaliser refuses are reported in Refused and left too. With dryRun
// nothing is written. It is safe to run again (a second run changes nothing and reports the
// same collisions) and against a live service: each rewrite is an optimistic update of the row
// as read, and a rewrite that meets a concurrent change or a concurrent account with that
// identity is skipped and reported. Migration runs it once (see the sqlstore migration
// renormalize_identities); `portcullis users renormalize` runs it on demand.
func RenormalizeIdentities(ctx context.Context, dir ports.UserDirectory, users ports.UserStore, idn ports.IdentityNormalizer,
	clock ports.Clock, log *slog.Logger, dryRun bool) (RenormalizeReport, error) {
	r := &renormalizer{users: users, clock: clock, log: log, dryRun: dryRun, holders: map[string][]string{}}
	if err := r.scan(ctx, dir, idn); err != nil {
		return r.rep, err
	}
	r.rep.Collisions = r.collisions()
	for _, a := range r.accounts {
		if err := r.rewrite(ctx, a); err != nil {
			return r.rep, err
		}
	}
	r.logReport(ctx)
	return r.rep, nil
}

// renormalizer is one run of RenormalizeIdentities: it scans every account first, so that it
// knows who else normalises to an identity, then rewrites the identities only one account holds.
type renormalizer struct {
	users  ports.UserStore
	clock  ports.Clock
	log    *slog.Logger
	dryRun bool

	rep      RenormalizeReport
	accounts []storedIdentity    // every account scanned, in creation order
	holders  map[string][]string // "email:x" / "username:x" -> user ids, in creation order
}

// storedIdentity is one account as read, with the normalised forms of its identities.
type storedIdentity struct {
	u                 domain.User
	email, username   string
	emailOK, userOK   bool // normalisable
	emailKey, userKey string
}

// scan reads every account, page by page in creation order, and normalises its identities.
func (r *renormalizer) scan(ctx context.Context, dir ports.UserDirectory, idn ports.IdentityNormalizer) error {
	q := domain.UserQuery{Limit: renormalizePage}
	for {
		page, err := dir.List(ctx, q)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		for _, u := range page {
			r.add(u, idn)
		}
		r.rep.Scanned += len(page)
		if len(page) < q.Limit {
			return nil
		}
		last := page[len(page)-1]
		q.AfterCreatedAt, q.AfterID = last.CreatedAt, last.ID
	}
}

// add normalises u's identities, counting u among the holders of each normalised one, or
// reporting the identity the normaliser refuses.
func (r *renormalizer) add(u domain.User, idn ports.IdentityNormalizer) {
	a := storedIdentity{u: u}
	var invalid *domain.FieldError
	if a.email, invalid = idn.Email(u.Email); invalid == nil {
		a.emailOK, a.emailKey = true, "email:"+a.email
		r.holders[a.emailKey] = append(r.holders[a.emailKey], u.ID)
	} else {
		r.rep.Refused = append(r.rep.Refused, IdentityRefusal{UserID: u.ID, Field: "email", Code: invalid.Code})
	}
	if u.Username != "" {
		if a.username, invalid = idn.Username(u.Username); invalid == nil {
			a.userOK, a.userKey = true, "username:"+a.username
			r.holders[a.userKey] = append(r.holders[a.userKey], u.ID)
		} else {
			r.rep.Refused = append(r.rep.Refused, IdentityRefusal{UserID: u.ID, Field: "username", Code: invalid.Code})
		}
	}
	r.accounts = append(r.accounts, a)
}

// collisions lists the normalised identities more than one account holds, sorted by field and
// identity.
func (r *renormalizer) collisions() []IdentityCollision {
	keys := make([]string, 0, len(r.holders))
	for k, ids := range r.holders {
		if len(ids) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []IdentityCollision
	for _, k := range keys {
		field, identity, _ := strings.Cut(k, ":")
		out = append(out, IdentityCollision{Field: field, Identity: identity, UserIDs: r.holders[k]})
	}
	return out
}

// rewrite stores a's account with its identities renormalised where only it holds them (in a
// dry run it only reports them). A concurrent change of the account is logged and skipped; an
// account registered meanwhile under the normalised identity is reported as a collision.
func (r *renormalizer) rewrite(ctx context.Context, a storedIdentity) error {
	u, changes := a.renormalized(r.holders)
	if len(changes) == 0 {
		return nil
	}
	if r.dryRun {
		r.rep.Changed = append(r.rep.Changed, changes...)
		return nil
	}
	u.UpdatedAt = r.clock.Now()
	_, err := r.users.Update(ctx, u) // the row as read: a concurrent change is ErrStale
	switch {
	case err == nil:
		r.rep.Changed = append(r.rep.Changed, changes...)
	case errors.Is(err, domain.ErrStale), errors.Is(err, domain.ErrNotFound):
		r.log.WarnContext(ctx, "identity not renormalised: the account changed meanwhile; run again", "user_id", u.ID)
	case errors.Is(err, domain.ErrConflict):
		r.rep.Collisions = append(r.rep.Collisions, a.takenMeanwhile(err))
	default:
		return fmt.Errorf("renormalise user %s: %w", u.ID, err)
	}
	return nil
}

// renormalized returns the account with each identity rewritten that is not in its normalised
// form and whose normalised form no other account holds, and the changes that makes (none:
// nothing to rewrite).
func (a storedIdentity) renormalized(holders map[string][]string) (domain.User, []IdentityChange) {
	u := a.u
	var changes []IdentityChange
	if a.emailOK && a.email != a.u.Email && len(holders[a.emailKey]) == 1 {
		changes = append(changes, IdentityChange{UserID: a.u.ID, Field: "email", From: a.u.Email, To: a.email})
		u.Email = a.email
	}
	if a.userOK && a.username != a.u.Username && len(holders[a.userKey]) == 1 {
		changes = append(changes, IdentityChange{UserID: a.u.ID, Field: "username", From: a.u.Username, To: a.username})
		u.Username = a.username
	}
	return u, changes
}

// takenMeanwhile is the collision that err, the store's ErrConflict on rewriting a's account,
// reports: an account registered meanwhile under the normalised identity.
func (a storedIdentity) takenMeanwhile(err error) IdentityCollision {
	var ce *domain.ConflictError
	field := "email"
	if errors.As(err, &ce) && ce.Field != "" {
		field = ce.Field
	}
	to := a.email
	if field == "username" {
		to = a.username
	}
	return IdentityCollision{Field: field, Identity: to, UserIDs: []string{a.u.ID}}
}

// logReport logs each collision and refusal, and what the run did.
func (r *renormalizer) logReport(ctx context.Context) {
	for _, c := range r.rep.Collisions {
		r.log.WarnContext(ctx, "accounts share one normalised identity; left as they are", "field", c.Field, "user_ids", c.UserIDs)
	}
	for _, f := range r.rep.Refused {
		r.log.WarnContext(ctx, "stored identity is refused by the normaliser; left as it is", "field", f.Field, "code", f.Code, "user_id", f.UserID)
	}
	r.log.InfoContext(ctx, "identities renormalised", "scanned", r.rep.Scanned, "changed", len(r.rep.Changed),
		"collisions", len(r.rep.Collisions), "refused", len(r.rep.Refused), "dry_run", r.dryRun)
}

// RenormalizeIdentities runs RenormalizeIdentities over the administrator's stores, for
// `portcullis users renormalize`. Only admins (and the Operator) may.
func (a *Admin) RenormalizeIdentities(ctx context.Context, actor Principal, dryRun bool) (RenormalizeReport, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return RenormalizeReport{}, domain.ErrForbidden
	}
	return RenormalizeIdentities(ctx, a.directory, a.users, a.accounts.idn, a.clock, a.log, dryRun)
}
