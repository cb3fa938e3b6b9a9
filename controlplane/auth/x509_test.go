package auth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff.dev/skiff/controlplane/pki"
)

func TestX509CacheHonoursExpiry(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	if err := ca.EnsureClientCert(certPath, keyPath, "system:node:n1", []string{GroupNodes}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Leaf}}

	a := NewX509Authenticator(ca.CertPool())
	u, ok, err := a.Authenticate(r)
	if !ok || err != nil || u.Name != "system:node:n1" || !u.InGroup(GroupNodes) {
		t.Fatalf("first request: %+v, %v, %v", u, ok, err)
	}
	u.Groups[0] = "system:masters" // must not leak into the cache

	a.now = func() time.Time { return pair.Leaf.NotAfter.Add(-time.Minute) }
	if u, ok, err := a.Authenticate(r); !ok || err != nil || !u.InGroup(GroupNodes) || u.InGroup(GroupMasters) {
		t.Errorf("cached request: %+v, %v, %v", u, ok, err)
	}
	a.now = func() time.Time { return pair.Leaf.NotAfter.Add(time.Minute) }
	if _, ok, err := a.Authenticate(r); ok || err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("request after expiry: ok=%v err=%v, want an expiry error", ok, err)
	}
}

func TestX509CacheIsBounded(t *testing.T) {
	a := NewX509Authenticator(x509.NewCertPool())
	now := time.Now()
	chain := []*x509.Certificate{{NotAfter: now.Add(time.Hour)}}
	for i := range maxVerifiedChains + 10 {
		a.remember(sha256.Sum256([]byte{byte(i), byte(i >> 8)}), &User{Name: "u"}, chain, now)
	}
	if n := len(a.verified); n > maxVerifiedChains {
		t.Errorf("cache holds %d chains, limit %d", n, maxVerifiedChains)
	}
}
