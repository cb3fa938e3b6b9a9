package server

import (
	"runtime"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/version"
)

// KubernetesVersion is the Kubernetes API version skiff serves.
const KubernetesVersion = "v1.37.2"

// Version is what /version reports: a Kubernetes-compatible version, so
// that clients' version checks pass, with skiff's build in the metadata.
func Version() version.Info {
	v := version.Info{
		Major: "1", Minor: "37", GitVersion: KubernetesVersion + "+skiff",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.GitCommit = s.Value
			case "vcs.time":
				v.BuildDate = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					v.GitTreeState = "dirty"
				} else {
					v.GitTreeState = "clean"
				}
			}
		}
	}
	return v
}
