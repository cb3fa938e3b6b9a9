package apiserver_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownedData returns the data keys each manager owns, by manager and
// operation ("alice/Update").
func ownedData(t *testing.T, cm *corev1.ConfigMap) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range cm.ManagedFields {
		var fields struct {
			Data map[string]any `json:"f:data"`
		}
		if e.FieldsV1 == nil {
			t.Fatalf("entry %+v has no fieldsV1", e)
		}
		if err := json.Unmarshal(e.FieldsV1.Raw, &fields); err != nil {
			t.Fatalf("fieldsV1 of %s: %v", e.Manager, err)
		}
		var keys []string
		for k := range fields.Data {
			keys = append(keys, strings.TrimPrefix(k, "f:"))
		}
		slices.Sort(keys)
		out[e.Manager+"/"+string(e.Operation)] = strings.Join(keys, ",")
	}
	return out
}

// Updates record field ownership as Kubernetes does: the writer of a
// changed field takes it from its previous owner, an update that changes
// nothing keeps the entries as they were, and an apply of a field last
// written by an update conflicts with that writer.
func TestUpdateManagedFields(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"a": "1", "b": "1"}},
		metav1.CreateOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ownedData(t, cm); len(got) != 1 || got["alice/Update"] != ".,a,b" {
		t.Fatalf("after create: %v", got)
	}
	cm.Data["b"] = "2"
	cm.Data["c"] = "2"
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := ownedData(t, cm); len(got) != 2 || got["alice/Update"] != ".,a" || got["bob/Update"] != "b,c" {
		t.Fatalf("after bob's update: %v", got)
	}
	before := cm.ManagedFields
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "carol"}); err != nil {
		t.Fatal(err)
	}
	if got := ownedData(t, cm); len(got) != 2 || len(cm.ManagedFields) != len(before) {
		t.Fatalf("an update changing nothing must keep the entries: %v", got)
	}
	// An update that sends no managedFields keeps the stored ones.
	cm.ManagedFields = nil
	cm.Data["a"] = "3"
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := ownedData(t, cm); len(got) != 2 || got["alice/Update"] != "" || got["bob/Update"] != "a,b,c" {
		t.Fatalf("after bob's update without managedFields: %v", got)
	}
	_, err = cms.Patch(ctx, "cfg", types.ApplyYAMLPatchType, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {c: '9'}\n"),
		metav1.PatchOptions{FieldManager: "dave"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "bob") {
		t.Fatalf("apply of bob's field: got %v, want a conflict with bob", err)
	}
}
