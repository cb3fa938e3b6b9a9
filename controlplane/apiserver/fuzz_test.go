package apiserver_test

import (
	"strings"
	"testing"
)

// FuzzCreate throws arbitrary bodies at the create path of several kinds:
// decoding, defaulting, validation and admission must answer with a 2xx or
// a 4xx Status, never a 5xx (the server recovers from panics with a 500),
// and whatever was created must read back. `make test` runs the seeds;
// `go test -fuzz FuzzCreate ./controlplane/apiserver` explores.
func FuzzCreate(f *testing.F) {
	seeds := []struct {
		kind  uint8
		ctype string
		body  string
	}{
		{0, "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`},
		{0, "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}\n"},
		{0, "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"-1"}}}]}}`},
		{1, "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1}]}}`},
		{1, "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s2"},"spec":{"clusterIP":"None","ports":[{"port":80}]}}`},
		{2, "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"c"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`},
		{3, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"":""}},"data":{"a":1}}`},
		{3, "application/vnd.kubernetes.protobuf", "k8s\x00\x0a\x02v1"},
		{0, "application/json", `[`},
		{1, "application/json", `null`},
		{2, "application/yaml", "{{{"},
	}
	for _, s := range seeds {
		f.Add(s.kind, s.ctype, []byte(s.body))
	}
	ns := ""
	paths := []string{"/api/v1/namespaces/%s/pods", "/api/v1/namespaces/%s/services", "/apis/apps/v1/namespaces/%s/deployments", "/api/v1/namespaces/%s/configmaps"}
	f.Fuzz(func(t *testing.T, kind uint8, ctype string, body []byte) {
		if strings.ContainsFunc(ctype, func(r rune) bool { return r < ' ' || r == 0x7f || r > 0x7e }) {
			t.Skip("not a valid header value; the client refuses to send it")
		}
		if ns == "" {
			ns = namespace(t)
		}
		path := strings.Replace(paths[int(kind)%len(paths)], "%s", ns, 1)
		code, st, raw := rawRequest(t, shared.Config, "POST", path, ctype, body)
		switch {
		case code >= 500:
			t.Fatalf("POST %s (%s) %q: %d %s", path, ctype, body, code, truncate(raw))
		case code >= 400 && st == nil:
			t.Fatalf("POST %s: %d without a Status body: %s", path, code, truncate(raw))
		case code == 201:
			var created struct {
				Metadata struct{ Name string } `json:"metadata"`
			}
			if err := jsonUnmarshal(raw, &created); err != nil || created.Metadata.Name == "" {
				t.Fatalf("created object unreadable: %v %s", err, truncate(raw))
			}
			if c, _, got := rawRequest(t, shared.Config, "GET", path+"/"+created.Metadata.Name, "", nil); c != 200 {
				t.Fatalf("created %s but GET says %d %s", created.Metadata.Name, c, truncate(got))
			}
			rawRequest(t, shared.Config, "DELETE", path+"/"+created.Metadata.Name, "", nil)
		}
	})
}
