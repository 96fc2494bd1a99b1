package access

import (
	"fmt"
	"path"
	"strings"
)

// Defaults of the default exclusions: the cluster's own components, which an operator of the
// platform does not review and cannot revoke. system:anonymous and system:unauthenticated are
// never excluded: anything granted to them is a finding.
var defaultExclusions = []string{"users and groups named system:*", "ServiceAccounts in kube-system and kube-node-lease"}

var neverExcluded = map[string]bool{"system:anonymous": true, "system:unauthenticated": true}

// selection decides which subjects the review covers.
type selection struct {
	includeSystem bool
	// globs match a subject's name (an identity's identifier); none means all.
	globs []string
}

func newSelection(includeSystem bool, globs []string) (*selection, error) {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("--subject %q is not a valid pattern: %w", g, err)
		}
	}
	return &selection{includeSystem: includeSystem, globs: globs}, nil
}

func (s *selection) exclusions() []string {
	if s.includeSystem {
		return nil
	}
	return defaultExclusions
}

func (s *selection) matchName(name string) bool {
	if len(s.globs) == 0 {
		return true
	}
	for _, g := range s.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

func (s *selection) keepKube(k KubeSubject) bool {
	if !s.includeSystem && !neverExcluded[k.Name] {
		if k.Kind == "ServiceAccount" && (k.Namespace == "kube-system" || k.Namespace == "kube-node-lease") {
			return false
		}
		if k.Kind != "ServiceAccount" && strings.HasPrefix(k.Name, "system:") {
			return false
		}
	}
	return s.matchName(k.Name)
}

func (s *selection) keepToken(t LegacyToken) bool {
	ns, name, _ := strings.Cut(t.ServiceAccount, "/")
	return s.keepKube(KubeSubject{Kind: "ServiceAccount", Namespace: ns, Name: name})
}
