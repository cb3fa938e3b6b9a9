package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func requestWithToken(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	return r
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	csv := "abc,alice,1,\"system:masters, dev\"\ndef,bob,2\n"
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := NewTokenAuthenticator()
	if err := ta.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := ta.Add("ghi", User{Name: "carol"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		user   string
		groups []string
		ok     bool
		err    bool
	}{
		{header: "Bearer abc", user: "alice", groups: []string{"system:masters", "dev"}, ok: true},
		{header: "bearer def", user: "bob", ok: true},
		{header: "Bearer ghi", user: "carol", ok: true},
		{header: "Bearer nope", err: true},
		{header: "Basic YWxpY2U6eA=="},
		{header: "Bearer "},
		{header: ""},
	} {
		u, ok, err := ta.Authenticate(requestWithToken(tc.header))
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%q: ok=%v err=%v, want ok=%v err=%v", tc.header, ok, err, tc.ok, tc.err)
			continue
		}
		if ok && (u.Name != tc.user || !slices.Equal(u.Groups, tc.groups)) {
			t.Errorf("%q: user %+v, want %s in %v", tc.header, u, tc.user, tc.groups)
		}
	}
	if err := ta.Add("abc", User{Name: "mallory"}); err == nil {
		t.Error("adding a known token again: want an error")
	}
}

func TestTokenFileErrors(t *testing.T) {
	for name, csv := range map[string]string{
		"two columns":     "abc,alice\n",
		"duplicate token": "abc,alice,1\nxyz,eve,3\nabc,bob,2\n",
		"empty user":      "xyz,,1\n",
	} {
		path := filepath.Join(t.TempDir(), "tokens.csv")
		if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		ta := NewTokenAuthenticator()
		if err := ta.LoadFile(path); err == nil {
			t.Errorf("%s: want an error", name)
		}
		if _, ok, _ := ta.Authenticate(requestWithToken("Bearer xyz")); ok {
			t.Errorf("%s: a token of a rejected file authenticates", name)
		}
	}
}

func fixedAuthenticator(u *User, ok bool, err error) Authenticator {
	return AuthenticatorFunc(func(*http.Request) (*User, bool, error) { return u, ok, err })
}

func TestUnionAuthenticator(t *testing.T) {
	alice := &User{Name: "alice"}
	bad := errors.New("bad credential")
	absent := fixedAuthenticator(nil, false, nil)
	invalid := fixedAuthenticator(nil, false, bad)
	valid := fixedAuthenticator(alice, true, nil)
	for name, tc := range map[string]struct {
		union  Authenticator
		ok     bool
		hasErr bool
	}{
		"valid after invalid": {UnionAuthenticator(invalid, valid), true, false},
		"invalid and absent":  {UnionAuthenticator(absent, invalid), false, true},
		"all absent":          {UnionAuthenticator(absent, absent), false, false},
		"empty":               {UnionAuthenticator(), false, false},
	} {
		u, ok, err := tc.union.Authenticate(requestWithToken(""))
		if ok != tc.ok || (err != nil) != tc.hasErr {
			t.Errorf("%s: ok=%v err=%v, want ok=%v err=%v", name, ok, err, tc.ok, tc.hasErr)
		}
		if ok && u != alice {
			t.Errorf("%s: user %+v", name, u)
		}
		if tc.hasErr && !errors.Is(err, bad) {
			t.Errorf("%s: error %v does not wrap the authenticator's", name, err)
		}
	}
}

func TestWithAuthenticationAddsGroupWithoutMutating(t *testing.T) {
	stored := &User{Name: "alice", Groups: []string{"dev"}}
	var got *User
	h := WithAuthentication(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = UserFrom(r.Context())
	}), fixedAuthenticator(stored, true, nil), nil)
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), requestWithToken("Bearer x"))
	}
	if got == nil || !slices.Equal(got.Groups, []string{"dev", GroupAuthenticated}) {
		t.Errorf("user in context %+v, want groups [dev %s]", got, GroupAuthenticated)
	}
	if !slices.Equal(stored.Groups, []string{"dev"}) {
		t.Errorf("authenticator's user changed to %+v", stored)
	}
}

func fixedAuthorizer(d Decision, err error) Authorizer {
	return AuthorizerFunc(func(context.Context, Attributes) (Decision, string, error) { return d, d.String(), err })
}

func TestUnionAuthorizer(t *testing.T) {
	allow := fixedAuthorizer(DecisionAllow, nil)
	deny := fixedAuthorizer(DecisionDeny, nil)
	none := fixedAuthorizer(DecisionNoOpinion, nil)
	failed := fixedAuthorizer(DecisionNoOpinion, errors.New("backend down"))
	for name, tc := range map[string]struct {
		union  Authorizer
		want   Decision
		hasErr bool
	}{
		"allow":                     {UnionAuthorizer(allow), DecisionAllow, false},
		"no opinion falls to allow": {UnionAuthorizer(none, allow), DecisionAllow, false},
		"deny before allow":         {UnionAuthorizer(none, deny, allow), DecisionDeny, false},
		"allow before deny":         {UnionAuthorizer(allow, deny), DecisionAllow, false},
		"failure falls through":     {UnionAuthorizer(failed, allow), DecisionAllow, false},
		"all no opinion denies":     {UnionAuthorizer(none, none), DecisionDeny, false},
		"failure and no opinion":    {UnionAuthorizer(none, failed), DecisionDeny, true},
		"empty union denies":        {UnionAuthorizer(), DecisionDeny, false},
		"zero decision on error":    {UnionAuthorizer(fixedAuthorizer(0, errors.New("x")), allow), DecisionDeny, true},
	} {
		d, _, err := tc.union.Authorize(context.Background(), Attributes{})
		if d != tc.want || (err != nil) != tc.hasErr {
			t.Errorf("%s: %v, %v; want %v, error %v", name, d, err, tc.want, tc.hasErr)
		}
	}
}

func TestGroupAndPathAuthorizers(t *testing.T) {
	admins := GroupAuthorizer(GroupMasters)
	public := PathAuthorizer(PublicPaths()...)
	admin := &User{Name: "admin", Groups: []string{GroupMasters, GroupAuthenticated}}
	alice := &User{Name: "alice", Groups: []string{GroupAuthenticated}}
	anon := &User{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
	pods := Attributes{Verb: "list", Resource: "pods", Path: "/api/v1/pods", ResourceRequest: true}
	health := Attributes{Verb: "get", Path: "/healthz"}
	for name, tc := range map[string]struct {
		z    Authorizer
		a    Attributes
		user *User
		want Decision
	}{
		"admin lists pods":        {admins, pods, admin, DecisionAllow},
		"alice lists pods":        {admins, pods, alice, DecisionNoOpinion},
		"no user":                 {admins, pods, nil, DecisionNoOpinion},
		"anonymous health":        {public, health, anon, DecisionAllow},
		"anonymous pods":          {public, pods, anon, DecisionNoOpinion},
		"post to health":          {public, Attributes{Verb: "post", Path: "/healthz"}, anon, DecisionNoOpinion},
		"health subpath":          {public, Attributes{Verb: "get", Path: "/healthz/etcd"}, anon, DecisionNoOpinion},
		"wildcard subpath":        {PathAuthorizer("/healthz/*"), Attributes{Verb: "get", Path: "/healthz/etcd"}, anon, DecisionAllow},
		"union: anonymous pods":   {UnionAuthorizer(public, admins), pods, anon, DecisionDeny},
		"union: anonymous health": {UnionAuthorizer(public, admins), health, anon, DecisionAllow},
		"always allow":            {AlwaysAllow(), pods, anon, DecisionAllow},
	} {
		tc.a.User = tc.user
		if d, _, err := tc.z.Authorize(context.Background(), tc.a); d != tc.want || err != nil {
			t.Errorf("%s: %v, %v; want %v", name, d, err, tc.want)
		}
	}
}
