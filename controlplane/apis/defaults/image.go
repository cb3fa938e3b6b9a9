package defaults

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The grammar of an image reference, as the distribution reference library
// that Kubernetes uses to read tags defines it.
var (
	referenceRegexp = regexp.MustCompile(`^(` + namePattern + `)(?::(` + tagPattern + `))?(?:@(` + digestPattern + `))?$`)
	anchoredHexID   = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

const (
	alphanumeric    = `[a-z0-9]+`
	separator       = `(?:[._]|__|[-]+)`
	pathComponent   = alphanumeric + `(?:` + separator + alphanumeric + `)*`
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	ipv6Address     = `\[(?:[a-fA-F0-9:]+)\]`
	host            = `(?:` + domainComponent + `(?:\.` + domainComponent + `)*|` + ipv6Address + `)`
	domainAndPort   = host + `(?::[0-9]+)?`
	namePattern     = `(?:` + domainAndPort + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
	tagPattern      = `[\w][\w.-]{0,127}`
	digestPattern   = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
	maxNameLength   = 255
	defaultImageTag = "latest"
)

// imageTag returns the tag Kubernetes reads from an image reference: the
// explicit tag, "latest" when the reference has neither tag nor digest, and
// "" when it has only a digest or cannot be parsed.
func imageTag(image string) string {
	if anchoredHexID.MatchString(image) {
		return ""
	}
	m := referenceRegexp.FindStringSubmatch(image)
	if m == nil || len(m[1]) > maxNameLength {
		return ""
	}
	name, tag, digest := m[1], m[2], m[3]
	// Without a registry domain the repository must be lower case: an
	// upper-case first component is only accepted as a domain.
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		isDomain := strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first
		if !isDomain && strings.ToLower(name) != name {
			return ""
		}
	} else if strings.ToLower(name) != name {
		return ""
	}
	if tag == "" && digest == "" {
		return defaultImageTag
	}
	return tag
}

// pullPolicyFor is the imagePullPolicy Kubernetes defaults for an image:
// Always for ":latest" (or no tag at all), IfNotPresent otherwise.
func pullPolicyFor(image string) corev1.PullPolicy {
	if imageTag(image) == defaultImageTag {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
