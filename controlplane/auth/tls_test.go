package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/controlplane/auth"
	"skiff.dev/skiff/controlplane/pki"
)

// node is what a server's data directory holds after the TLS bootstrap.
type node struct {
	dir     string
	ca      *pki.CA
	token   string
	adminKC string // kubeconfig with the admin client certificate
	tokenKC string // kubeconfig with the admin bearer token
}

func (n *node) path(name string) string { return filepath.Join(n.dir, "tls", name) }

// bootstrap does what `skiff server` does at start: ensure the CA, the
// serving and admin certificates and the admin token, and write kubeconfigs.
func bootstrap(t testing.TB, dir string) *node {
	t.Helper()
	n := &node{dir: dir}
	var err error
	if n.ca, err = pki.EnsureCA(filepath.Join(dir, "tls")); err != nil {
		t.Fatal(err)
	}
	if err := n.ca.EnsureServingCert(n.path("serving.crt"), n.path("serving.key"), []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := n.ca.EnsureClientCert(n.path("admin.crt"), n.path("admin.key"), "skiff-admin", []string{auth.GroupMasters}); err != nil {
		t.Fatal(err)
	}
	if n.token, err = pki.EnsureToken(n.path("admin.token")); err != nil {
		t.Fatal(err)
	}
	n.adminKC = filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, n.adminKC, pki.KubeconfigSpec{
		Server: "https://127.0.0.1:6443", CAPEM: n.ca.CertPEM,
		ClientCertPEM: readFile(t, n.path("admin.crt")), ClientKeyPEM: readFile(t, n.path("admin.key")),
	})
	n.tokenKC = filepath.Join(dir, "token.kubeconfig")
	writeKubeconfig(t, n.tokenKC, pki.KubeconfigSpec{Server: "https://127.0.0.1:6443", CAPEM: n.ca.CertPEM, Token: n.token})
	return n
}

func writeKubeconfig(t testing.TB, path string, spec pki.KubeconfigSpec) {
	t.Helper()
	if err := pki.WriteKubeconfig(path, spec); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// whoami is what the test server answers on every path but /version.
type whoami struct {
	Name          string
	Groups        []string
	Authorization string
}

// serve starts an HTTPS server on loopback configured from n's files, with
// the admin token and client certificates accepted, and returns its URL.
func serve(t *testing.T, n *node) string {
	t.Helper()
	tokens := auth.NewTokenAuthenticator()
	if err := tokens.Add(n.token, auth.User{Name: "token-admin", UID: "1", Groups: []string{auth.GroupMasters}}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.0-skiff"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u, ok := auth.UserFrom(r.Context())
		if !ok {
			http.Error(w, "no user in context", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(whoami{Name: u.Name, Groups: u.Groups, Authorization: r.Header.Get("Authorization")})
	})
	authn := auth.UnionAuthenticator(auth.NewX509Authenticator(n.ca.CertPool()), tokens)
	srv := httptest.NewUnstartedServer(auth.WithAuthentication(mux, authn, auth.PublicPaths()))
	cfg, err := n.ca.TLSServerConfig(n.path("serving.crt"), n.path("serving.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// restConfig loads a kubeconfig the way kubectl does, pointed at url.
func restConfig(t *testing.T, kubeconfig, url string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags(url, kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// get fetches path with client-go's REST client. Its error carries the
// server's Status, as kubectl's typed requests see it.
func get(t *testing.T, cfg *rest.Config, path string) ([]byte, error) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := cs.CoreV1().RESTClient().Get().AbsPath(path).Do(ctx)
	body, _ := res.Raw()
	return body, res.Error()
}

func getUser(t *testing.T, cfg *rest.Config, path string) whoami {
	t.Helper()
	body, err := get(t, cfg, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	var w whoami
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return w
}

func TestKubeconfigAuthenticates(t *testing.T) {
	n := bootstrap(t, t.TempDir())
	url := serve(t, n)
	for _, tc := range []struct {
		kubeconfig, user string
	}{
		{n.adminKC, "skiff-admin"},
		{n.tokenKC, "token-admin"},
	} {
		w := getUser(t, restConfig(t, tc.kubeconfig, url), "/api")
		if w.Name != tc.user {
			t.Errorf("%s: authenticated as %q, want %q", filepath.Base(tc.kubeconfig), w.Name, tc.user)
		}
		if !slices.Contains(w.Groups, auth.GroupMasters) || !slices.Contains(w.Groups, auth.GroupAuthenticated) {
			t.Errorf("%s: groups %v, want %s and %s", filepath.Base(tc.kubeconfig), w.Groups, auth.GroupMasters, auth.GroupAuthenticated)
		}
		if w.Authorization != "" {
			t.Errorf("%s: handler saw Authorization %q", filepath.Base(tc.kubeconfig), w.Authorization)
		}
		if fi, err := os.Stat(tc.kubeconfig); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", filepath.Base(tc.kubeconfig), fi.Mode(), err)
		}
	}
}

func TestRestartKeepsCredentials(t *testing.T) {
	dir := t.TempDir()
	first := bootstrap(t, dir)
	files := []string{"ca.crt", "ca.key", "serving.crt", "serving.key", "admin.crt", "admin.key", "admin.token"}
	before := make(map[string][]byte)
	for _, f := range files {
		before[f] = readFile(t, first.path(f))
	}
	second := bootstrap(t, dir)
	for _, f := range files {
		if string(readFile(t, second.path(f))) != string(before[f]) {
			t.Errorf("restart changed %s", f)
		}
	}
	// A kubeconfig handed out before the restart still works after it.
	url := serve(t, second)
	if w := getUser(t, restConfig(t, first.adminKC, url), "/api"); w.Name != "skiff-admin" {
		t.Errorf("old kubeconfig authenticated as %q", w.Name)
	}
}

// signedKeyPair returns a client certificate for CN=admin,O=system:masters
// signed by ca, valid from notBefore to notAfter, and its key, in PEM.
func signedKeyPair(t *testing.T, ca *pki.CA, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "admin", Organization: []string{auth.GroupMasters}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// assertUnauthorized checks that err is client-go's view of a 401 whose
// Status body says wantMessage.
func assertUnauthorized(t *testing.T, name string, err error, wantMessage string) {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Errorf("%s: error %v, want a Status error", name, err)
		return
	}
	s := se.ErrStatus
	if s.Code != http.StatusUnauthorized || s.Reason != metav1.StatusReasonUnauthorized || s.Status != metav1.StatusFailure {
		t.Errorf("%s: status %d %s %s, want 401 Unauthorized Failure", name, s.Code, s.Reason, s.Status)
	}
	if !strings.Contains(s.Message, wantMessage) {
		t.Errorf("%s: message %q, want it to contain %q", name, s.Message, wantMessage)
	}
}

func TestBadCredentialsGet401(t *testing.T) {
	n := bootstrap(t, t.TempDir())
	url := serve(t, n)
	otherCA, err := pki.EnsureCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	foreignCert, foreignKey := signedKeyPair(t, otherCA, now.Add(-time.Hour), now.Add(time.Hour))
	expiredCert, expiredKey := signedKeyPair(t, n.ca, now.Add(-48*time.Hour), now.Add(-24*time.Hour))

	for _, tc := range []struct {
		name    string
		spec    pki.KubeconfigSpec
		message string
	}{
		{"wrong CA", pki.KubeconfigSpec{ClientCertPEM: foreignCert, ClientKeyPEM: foreignKey}, "certificate signed by unknown authority"},
		{"expired", pki.KubeconfigSpec{ClientCertPEM: expiredCert, ClientKeyPEM: expiredKey}, "certificate has expired"},
		{"bad token", pki.KubeconfigSpec{Token: "not-" + n.token}, "invalid bearer token"},
	} {
		tc.spec.Server, tc.spec.CAPEM = url, n.ca.CertPEM
		path := filepath.Join(t.TempDir(), "kubeconfig")
		writeKubeconfig(t, path, tc.spec)
		cfg := restConfig(t, path, "")
		_, err := get(t, cfg, "/api")
		assertUnauthorized(t, tc.name, err, tc.message)

		// Public paths still answer, anonymously.
		if w := getUser(t, cfg, "/healthz"); w.Name != auth.UserAnonymous {
			t.Errorf("%s: /healthz as %q, want %s", tc.name, w.Name, auth.UserAnonymous)
		}
	}
}

func TestAnonymous(t *testing.T) {
	n := bootstrap(t, t.TempDir())
	url := serve(t, n)
	cfg := &rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{CAData: n.ca.CertPEM}}

	_, err := get(t, cfg, "/api")
	assertUnauthorized(t, "anonymous /api", err, "no credentials")

	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		w := getUser(t, cfg, p)
		if w.Name != auth.UserAnonymous || !slices.Equal(w.Groups, []string{auth.GroupUnauthenticated}) {
			t.Errorf("%s: user %+v, want %s in %s", p, w, auth.UserAnonymous, auth.GroupUnauthenticated)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil || v.GitVersion != "v1.37.0-skiff" {
		t.Errorf("anonymous /version: %+v, %v", v, err)
	}

	// The raw 401 is a JSON Status, as kubectl and curl see it.
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(url + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var s metav1.Status
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("401 body %q: %v", body, err)
	}
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/json" ||
		s.Kind != "Status" || s.APIVersion != "v1" || s.Code != http.StatusUnauthorized || s.Reason != metav1.StatusReasonUnauthorized {
		t.Errorf("got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// BenchmarkAuthenticate measures the per-request cost of each kind of
// credential through the union the server uses.
func BenchmarkAuthenticate(b *testing.B) {
	n := bootstrap(b, b.TempDir())
	tokens := auth.NewTokenAuthenticator()
	if err := tokens.Add(n.token, auth.User{Name: "token-admin"}); err != nil {
		b.Fatal(err)
	}
	authn := auth.UnionAuthenticator(auth.NewX509Authenticator(n.ca.CertPool()), tokens)
	pair, err := tls.LoadX509KeyPair(n.path("admin.crt"), n.path("admin.key"))
	if err != nil {
		b.Fatal(err)
	}
	certReq := httptest.NewRequest(http.MethodGet, "/api", nil)
	certReq.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Leaf}}
	tokenReq := httptest.NewRequest(http.MethodGet, "/api", nil)
	tokenReq.Header.Set("Authorization", "Bearer "+n.token)
	for name, r := range map[string]*http.Request{"client-cert": certReq, "token": tokenReq} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, ok, err := authn.Authenticate(r); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
