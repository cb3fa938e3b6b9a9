package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// maxVerifiedChains bounds the cache of verified client certificates.
const maxVerifiedChains = 1024

// X509Authenticator authenticates requests by a TLS client certificate
// signed by one of its roots for client authentication. The certificate's
// common name is the user name and its organizations are the groups.
// The TLS server only requests client certificates, so this verifies the
// chain. Verified chains are remembered until they expire, which saves a
// signature check (about 70 µs) on every request of a client.
type X509Authenticator struct {
	roots *x509.CertPool
	now   func() time.Time

	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedChain
}

type verifiedChain struct {
	user     *User
	notAfter time.Time
}

// NewX509Authenticator returns an authenticator that trusts client
// certificates issued by roots.
func NewX509Authenticator(roots *x509.CertPool) *X509Authenticator {
	return &X509Authenticator{roots: roots, now: time.Now, verified: make(map[[sha256.Size]byte]verifiedChain)}
}

// Authenticate implements Authenticator.
func (a *X509Authenticator) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	peer := r.TLS.PeerCertificates
	now := a.now()
	key := chainKey(peer)
	if u, ok := a.lookup(key, now); ok {
		return u, true, nil
	}
	intermediates := x509.NewCertPool()
	for _, c := range peer[1:] {
		intermediates.AddCert(c)
	}
	chains, err := peer[0].Verify(x509.VerifyOptions{
		Roots:         a.roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, false, fmt.Errorf("invalid client certificate: %w", err)
	}
	if peer[0].Subject.CommonName == "" {
		return nil, false, errors.New("invalid client certificate: empty common name")
	}
	u := &User{Name: peer[0].Subject.CommonName, Groups: slices.Clone(peer[0].Subject.Organization)}
	a.remember(key, u, chains[0], now)
	return u.clone(), true, nil
}

// chainKey identifies a presented certificate chain.
func chainKey(chain []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (a *X509Authenticator) lookup(key [sha256.Size]byte, now time.Time) (*User, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.verified[key]
	if !ok || !now.Before(v.notAfter) {
		return nil, false
	}
	return v.user.clone(), true
}

// remember caches u for key until the first certificate of chain expires.
func (a *X509Authenticator) remember(key [sha256.Size]byte, u *User, chain []*x509.Certificate, now time.Time) {
	notAfter := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= maxVerifiedChains {
		for k, v := range a.verified {
			if !now.Before(v.notAfter) || len(a.verified) >= maxVerifiedChains {
				delete(a.verified, k)
			}
		}
	}
	a.verified[key] = verifiedChain{user: u, notAfter: notAfter}
}
