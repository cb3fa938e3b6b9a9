// Package pkgdoc holds a test that every package of the module has a doc
// comment, as tailscale does: a package without one fails `make test`.
package pkgdoc
