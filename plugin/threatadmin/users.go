package threatadmin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Users and API tokens a customer makes itself, kept in the database beside those of the Corefile (which
// win over one of the same name). A password is kept as its bcrypt hash, a token as its SHA-256; the
// token itself is shown once, when it is made.

// storedUser is a portal user made through the API.
type storedUser struct {
	Name     string    `json:"name"`
	Customer string    `json:"customer"`
	Hash     string    `json:"hash"` // bcrypt
	Write    bool      `json:"write"`
	Created  time.Time `json:"created"`
}

// storedToken is an API token made through the API, keyed by its SHA-256 (hex).
type storedToken struct {
	Customer string    `json:"customer"`
	Label    string    `json:"label"`
	Write    bool      `json:"write"`
	Created  time.Time `json:"created"`
}

// Errors of users and tokens.
var (
	errUserExists = errors.New("a user of that name exists")
	errNoUser     = errors.New("no such user made through the API (the Corefile's are removed there)")
	errNoToken    = errors.New("no such token made through the API")
	errWeak       = errors.New("a password needs at least 12 characters")
)

// minPassword is the shortest password a user made through the API may have.
const minPassword = 12

// storedGrant is the grant of a stored token or user of customer c, false when c is not a customer of
// the Corefile now.
func (a *Admin) storedGrant(c string, write bool) (grant, bool) {
	for _, cu := range a.customers {
		if cu.name == c {
			return grant{customer: cu, write: write}, true
		}
	}
	return grant{}, false
}

// tokenGrant is the grant of a token made through the API.
func (a *Admin) tokenGrant(sum [sha256.Size]byte) (grant, bool) {
	a.bolt.mu.Lock()
	t, ok := a.bolt.tokens[hex.EncodeToString(sum[:])]
	a.bolt.mu.Unlock()
	if !ok {
		return grant{}, false
	}
	return a.storedGrant(t.Customer, t.Write)
}

// storedUserOf is the user name made through the API, as a portal user; nil when none.
func (a *Admin) storedUserOf(name string) *user {
	a.bolt.mu.Lock()
	su, ok := a.bolt.users[name]
	a.bolt.mu.Unlock()
	if !ok {
		return nil
	}
	return &user{name: su.Name, hash: []byte(su.Hash), customer: su.Customer, write: su.Write}
}

// userOf is the portal user called name: the Corefile's, else one made through the API.
func (a *Admin) userOf(name string) *user {
	if u := a.users[name]; u != nil {
		return u
	}
	return a.storedUserOf(name)
}

// makeUser adds a portal user of customer c.
func (a *Admin) makeUser(who grant, from, c, name, password string, canWrite bool) error {
	if len(password) < minPassword {
		return errWeak
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return errSuperseded
	}
	if _, dup := a.bolt.users[name]; dup || a.users[name] != nil {
		return errUserExists
	}
	u := storedUser{Name: name, Customer: c, Hash: string(h), Write: canWrite, Created: a.now().UTC()}
	rec := audit{Time: u.Created, Customer: c, By: who.who(), From: from, Action: "user-create", List: "user", Value: name}
	if err := save(a.bolt.DB, name, rec, write{bucketUsers, u}); err != nil {
		return errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	a.bolt.users[name] = u
	return nil
}

// removeUser removes customer c's user name; its sessions end with it (a session names its user).
func (a *Admin) removeUser(who grant, from, c, name string) error {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return errSuperseded
	}
	if u, ok := a.bolt.users[name]; !ok || u.Customer != c {
		return errNoUser
	}
	rec := audit{Time: a.now().UTC(), Customer: c, By: who.who(), From: from, Action: "user-remove", List: "user", Value: name}
	if err := save(a.bolt.DB, name, rec, write{bucket: bucketUsers}); err != nil {
		return errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	delete(a.bolt.users, name)
	return nil
}

// makeToken makes an API token of customer c and returns it (shown once) and its ID, the first 16 hex
// digits of its SHA-256.
func (a *Admin) makeToken(who grant, from, c, label string, canWrite bool) (tok, id string, err error) {
	tok = "tsa_" + randomToken()
	sum := sha256.Sum256([]byte(tok))
	key := hex.EncodeToString(sum[:])
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return "", "", errSuperseded
	}
	t := storedToken{Customer: c, Label: label, Write: canWrite, Created: a.now().UTC()}
	rec := audit{Time: t.Created, Customer: c, By: who.who(), From: from, Action: "token-create", List: "token", Value: key[:16] + " " + label}
	if err := save(a.bolt.DB, key, rec, write{bucketTokens, t}); err != nil {
		return "", "", errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	a.bolt.tokens[key] = t
	return tok, key[:16], nil
}

// removeToken revokes customer c's token of ID id.
func (a *Admin) removeToken(who grant, from, c, id string) error {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	if a.bolt.cur != a {
		return errSuperseded
	}
	for key, t := range a.bolt.tokens {
		if len(id) == 16 && key[:16] == id && t.Customer == c {
			rec := audit{Time: a.now().UTC(), Customer: c, By: who.who(), From: from, Action: "token-revoke", List: "token", Value: id + " " + t.Label}
			if err := save(a.bolt.DB, key, rec, write{bucket: bucketTokens}); err != nil {
				return errNotSaved{fmt.Errorf("not saved: %w", err)}
			}
			delete(a.bolt.tokens, key)
			return nil
		}
	}
	return errNoToken
}
