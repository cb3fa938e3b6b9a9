// Package kubectl checks skiff's API against stock kubectl: its tests build
// kubectl from k8s.io/kubectl (cmd/kubectl here) once per run and drive it as
// a subprocess against in-process servers, with manifests from the
// Kubernetes documentation, asserting on what a user would read: exit codes,
// tables, YAML, JSON and error messages.
package kubectl
