package auth

import (
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// TokenAuthenticator authenticates requests by a static bearer token
// ("Authorization: Bearer <token>"). Tokens are kept by their SHA-256, so
// lookups do not compare secrets byte by byte. It is safe for concurrent use.
type TokenAuthenticator struct {
	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]*User
}

// NewTokenAuthenticator returns an authenticator with no tokens.
func NewTokenAuthenticator() *TokenAuthenticator {
	return &TokenAuthenticator{tokens: make(map[[sha256.Size]byte]*User)}
}

// Add makes token authenticate as u.
func (t *TokenAuthenticator) Add(token string, u User) error {
	return t.addAll(map[string]*User{token: &u})
}

// LoadFile adds the tokens of a Kubernetes static token file: CSV records
// token,user,uid[,"group1,group2"]. Either every record is added or none.
func (t *TokenAuthenticator) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	tokens, err := parseTokenCSV(f)
	if err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	if err := t.addAll(tokens); err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	return nil
}

func parseTokenCSV(r io.Reader) (map[string]*User, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	tokens := make(map[string]*User)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return tokens, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 3 {
			return nil, fmt.Errorf("line %d: want token,user,uid[,groups], got %d columns", line, len(rec))
		}
		if _, dup := tokens[rec[0]]; dup {
			return nil, fmt.Errorf("line %d: duplicate token", line)
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 {
			for g := range strings.SplitSeq(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		tokens[rec[0]] = u
	}
}

func (t *TokenAuthenticator) addAll(tokens map[string]*User) error {
	hashed := make(map[[sha256.Size]byte]*User, len(tokens))
	for token, u := range tokens {
		if token == "" || u.Name == "" {
			return errors.New("token and user name must not be empty")
		}
		hashed[sha256.Sum256([]byte(token))] = u.clone()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for h := range hashed {
		if _, dup := t.tokens[h]; dup {
			return errors.New("duplicate token")
		}
	}
	for h, u := range hashed {
		t.tokens[h] = u
	}
	return nil
}

// Authenticate implements Authenticator.
func (t *TokenAuthenticator) Authenticate(r *http.Request) (*User, bool, error) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	t.mu.RLock()
	u, found := t.tokens[sha256.Sum256([]byte(token))]
	t.mu.RUnlock()
	if !found {
		return nil, false, errors.New("invalid bearer token")
	}
	return u.clone(), true, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
