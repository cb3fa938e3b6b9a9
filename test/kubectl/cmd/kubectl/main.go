// Command kubectl is stock kubectl, built from k8s.io/kubectl with no
// changes, so that skiff's tests can drive the API server with the client
// operators use.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
