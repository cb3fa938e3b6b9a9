package apiserver_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// rawRequest sends a request with the admin credentials and returns the
// status code and the decoded Status body (if the body is one).
func rawRequest(t *testing.T, cfg *rest.Config, method, path, contentType string, body []byte) (int, *metav1.Status, []byte) {
	t.Helper()
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, cfg.Host+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		return resp.StatusCode, &st, data
	}
	return resp.StatusCode, nil, data
}

// Bad input gets the right code and a message that says what is wrong.
func TestBadInput(t *testing.T) {
	ns := namespace(t)
	pods := "/api/v1/namespaces/" + ns + "/pods"
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"` + strings.Repeat("x", 4<<20) + `"}}`
	bigButValid := `{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"big2"},"revision":1,"data":{"a":"` + strings.Repeat("x", 2<<20) + `"}}`
	cases := []struct {
		name, method, path, ctype, body string
		code                            int
		reason                          metav1.StatusReason
		msg                             string
	}{
		{"malformed JSON", "POST", pods, "application/json", `{"apiVersion":"v1","kind":"Pod",`, 400, metav1.StatusReasonBadRequest, "cannot be handled as a Pod"},
		{"malformed YAML", "POST", pods, "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: [\n", 400, metav1.StatusReasonBadRequest, "cannot be handled as a Pod"},
		{"wrong kind", "POST", pods, "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, "does not match the expected kind"},
		{"unknown resource", "GET", "/api/v1/namespaces/" + ns + "/widgets", "", "", 404, metav1.StatusReasonNotFound, "could not find the requested resource"},
		{"unknown group", "GET", "/apis/example.com/v1/widgets", "", "", 404, metav1.StatusReasonNotFound, "could not find the requested resource"},
		{"invalid name", "POST", pods, "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c","image":"i"}]}}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"invalid label", "POST", pods, "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a b":"c"}},"spec":{"containers":[{"name":"c","image":"i"}]}}`, 422, metav1.StatusReasonInvalid, "metadata.labels"},
		{"missing image", "POST", pods, "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}`, 422, metav1.StatusReasonInvalid, "spec.containers[0].image"},
		{"unknown field, strict", "POST", pods + "?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containerz":[]}}`, 400, metav1.StatusReasonBadRequest, `unknown field "spec.containerz"`},
		{"bad field selector", "GET", pods + "?fieldSelector=spec.color%3Dred", "", "", 400, metav1.StatusReasonBadRequest, "field label not supported: spec.color"},
		{"bad label selector", "GET", pods + "?labelSelector=a%20in%20(", "", "", 400, metav1.StatusReasonBadRequest, "unable to parse requirement"},
		{"body over 3 MiB", "POST", "/api/v1/namespaces/" + ns + "/configmaps", "application/json", big, 413, metav1.StatusReasonRequestEntityTooLarge, "limit is"},
		{"object over etcd's limit", "POST", "/apis/apps/v1/namespaces/" + ns + "/controllerrevisions", "application/json", bigButValid, 413, metav1.StatusReasonRequestEntityTooLarge, "limit is"},
		{"unsupported media type", "POST", pods, "text/plain", "hello", 415, metav1.StatusReasonUnsupportedMediaType, "unknown format"},
		{"bad patch type", "PATCH", pods + "/x", "application/foo", "{}", 415, metav1.StatusReasonUnsupportedMediaType, "unknown format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, st, raw := rawRequest(t, shared.Config, c.method, c.path, c.ctype, []byte(c.body))
			if code != c.code || st == nil {
				t.Fatalf("got %d %s, want %d with a Status", code, truncate(raw), c.code)
			}
			if st.Reason != c.reason || !strings.Contains(st.Message, c.msg) {
				t.Fatalf("got reason %q message %q, want reason %q and a message containing %q", st.Reason, st.Message, c.reason, c.msg)
			}
		})
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// A 422 carries a cause per invalid field, with its path.
func TestInvalidCauses(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "i"}, {Name: "c", Image: "i", Ports: []corev1.ContainerPort{{ContainerPort: 70000}}}},
	}}
	_, err := shared.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want 422 Invalid", err)
	}
	fields := map[string]bool{}
	for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
		fields[c.Field] = true
	}
	for _, want := range []string{"spec.containers[1].name", "spec.containers[1].ports[0].containerPort"} {
		if !fields[want] {
			t.Errorf("no cause for %s in %v", want, fields)
		}
	}
	if _, err := shared.Client.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("an invalid create must leave nothing behind: %v", err)
	}
}

// Unauthenticated and wrongly authenticated clients get 401; anonymous
// health checks and /version are allowed; a bearer token works.
func TestAuthentication(t *testing.T) {
	ctx := testContext(t)
	anon := rest.AnonymousClientConfig(shared.Config)
	cs := kubernetes.NewForConfigOrDie(anon)
	if _, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("anonymous list: got %v, want 401", err)
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		t.Fatalf("anonymous /version: %v", err)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		if code, _, body := rawRequest(t, anon, "GET", p, "", nil); code != 200 {
			t.Fatalf("anonymous %s: %d %s", p, code, body)
		}
	}

	bad := rest.AnonymousClientConfig(shared.Config)
	bad.BearerToken = "not-a-token"
	if _, err := kubernetes.NewForConfigOrDie(bad).CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("bad token: got %v, want 401", err)
	}

	token, err := shared.AdminToken()
	if err != nil {
		t.Fatal(err)
	}
	good := rest.AnonymousClientConfig(shared.Config)
	good.BearerToken = token
	if _, err := kubernetes.NewForConfigOrDie(good).CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("admin token: %v", err)
	}

	// A client certificate from a CA the server does not trust is refused.
	foreign := rest.AnonymousClientConfig(shared.Config)
	foreign.CertData, foreign.KeyData = selfSignedClientCert(t)
	if _, err := kubernetes.NewForConfigOrDie(foreign).CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("foreign client certificate: got %v, want 401", err)
	}
}

func selfSignedClientCert(t *testing.T) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "intruder", Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}
