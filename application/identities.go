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
	var rep RenormalizeReport
	type pending struct {
		u                 domain.User
		email, username   string
		emailOK, userOK   bool // normalisable
		emailKey, userKey string
	}
	var all []pending
	holders := map[string][]string{} // "email:x" / "username:x" -> user ids, in creation order
	q := domain.UserQuery{Limit: renormalizePage}
	for {
		page, err := dir.List(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("list users: %w", err)
		}
		for _, u := range page {
			p := pending{u: u}
			var invalid *domain.FieldError
			if p.email, invalid = idn.Email(u.Email); invalid == nil {
				p.emailOK, p.emailKey = true, "email:"+p.email
				holders[p.emailKey] = append(holders[p.emailKey], u.ID)
			} else {
				rep.Refused = append(rep.Refused, IdentityRefusal{UserID: u.ID, Field: "email", Code: invalid.Code})
			}
			if u.Username != "" {
				if p.username, invalid = idn.Username(u.Username); invalid == nil {
					p.userOK, p.userKey = true, "username:"+p.username
					holders[p.userKey] = append(holders[p.userKey], u.ID)
				} else {
					rep.Refused = append(rep.Refused, IdentityRefusal{UserID: u.ID, Field: "username", Code: invalid.Code})
				}
			}
			all = append(all, p)
		}
		rep.Scanned += len(page)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.AfterCreatedAt, q.AfterID = last.CreatedAt, last.ID
	}
	keys := make([]string, 0, len(holders))
	for k, ids := range holders {
		if len(ids) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		field, identity, _ := strings.Cut(k, ":")
		rep.Collisions = append(rep.Collisions, IdentityCollision{Field: field, Identity: identity, UserIDs: holders[k]})
	}
	for _, p := range all {
		email := p.emailOK && p.email != p.u.Email && len(holders[p.emailKey]) == 1
		username := p.userOK && p.username != p.u.Username && len(holders[p.userKey]) == 1
		if !email && !username {
			continue
		}
		changes := []IdentityChange{}
		if email {
			changes = append(changes, IdentityChange{UserID: p.u.ID, Field: "email", From: p.u.Email, To: p.email})
		}
		if username {
			changes = append(changes, IdentityChange{UserID: p.u.ID, Field: "username", From: p.u.Username, To: p.username})
		}
		if dryRun {
			rep.Changed = append(rep.Changed, changes...)
			continue
		}
		u := p.u
		if email {
			u.Email = p.email
		}
		if username {
			u.Username = p.username
		}
		u.UpdatedAt = clock.Now()
		_, err := users.Update(ctx, u) // the row as read: a concurrent change is ErrStale
		switch {
		case err == nil:
			rep.Changed = append(rep.Changed, changes...)
		case errors.Is(err, domain.ErrStale), errors.Is(err, domain.ErrNotFound):
			log.WarnContext(ctx, "identity not renormalised: the account changed meanwhile; run again", "user_id", u.ID)
		case errors.Is(err, domain.ErrConflict):
			// An account registered meanwhile under the normalised identity.
			var ce *domain.ConflictError
			field := "email"
			if errors.As(err, &ce) && ce.Field != "" {
				field = ce.Field
			}
			to := p.email
			if field == "username" {
				to = p.username
			}
			rep.Collisions = append(rep.Collisions, IdentityCollision{Field: field, Identity: to, UserIDs: []string{u.ID}})
		default:
			return rep, fmt.Errorf("renormalise user %s: %w", u.ID, err)
		}
	}
	for _, c := range rep.Collisions {
		log.WarnContext(ctx, "accounts share one normalised identity; left as they are", "field", c.Field, "user_ids", c.UserIDs)
	}
	for _, r := range rep.Refused {
		log.WarnContext(ctx, "stored identity is refused by the normaliser; left as it is", "field", r.Field, "code", r.Code, "user_id", r.UserID)
	}
	log.InfoContext(ctx, "identities renormalised", "scanned", rep.Scanned, "changed", len(rep.Changed),
		"collisions", len(rep.Collisions), "refused", len(rep.Refused), "dry_run", dryRun)
	return rep, nil
}

// RenormalizeIdentities runs RenormalizeIdentities over the administrator's stores, for
// `portcullis users renormalize`. Only admins (and the Operator) may.
func (a *Admin) RenormalizeIdentities(ctx context.Context, actor Principal, dryRun bool) (RenormalizeReport, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return RenormalizeReport{}, domain.ErrForbidden
	}
	return RenormalizeIdentities(ctx, a.directory, a.users, a.accounts.idn, a.clock, a.log, dryRun)
}
