package ui

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/wizard"
)

var update = flag.Bool("update", false, "rewrite the golden views in testdata")

// Each step's first screen, as it is drawn for fixed answers and cluster facts.
func TestWizardStepViews(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	a := wizard.Defaults()
	a.Context, a.Domain = "prod-cluster", "resimate.example.com"
	w := &Wizard{IO: streams, Answers: a, ValuesFile: "site.yaml",
		Cluster: &wizard.Cluster{Version: "v1.37.2", Nodes: 3, ReadyNodes: 3, StorageClasses: []string{"fast", "standard"},
			DefaultStorageClass: "standard", IngressClasses: []string{"nginx"}},
		Hooks: WizardHooks{Contexts: []string{"prod-cluster", "staging"}}}
	for _, step := range WizardSteps {
		f := w.form(step, step.Form(w))
		f.Init()
		m, _ := f.Update(tea.WindowSizeMsg{Width: 80, Height: 40})
		view := trimLines(ansi.Strip(m.View()))
		path := filepath.Join("testdata", "wizard-"+step.ID+".txt")
		if *update {
			require.NoError(t, os.MkdirAll("testdata", 0o755))
			require.NoError(t, os.WriteFile(path, []byte(view), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, string(want), view, "%s differs (go test -run TestWizardStepViews -update rewrites it)", path)
	}
}

// The answers' values pass the chart's schema, and a wrong one is refused with its path.
func TestWizardValuesFollowTheSchema(t *testing.T) {
	a := wizard.Defaults()
	a.Domain, a.StorageClass, a.IngressClass = "resimate.example.com", "standard", "nginx"
	require.NoError(t, a.Check())
	a.Vault = wizard.VaultExternal
	a.VaultAddress = "https://vault.example.com:8200"
	require.NoError(t, a.Check())
	a.Domain = "Not A Domain"
	assert.ErrorContains(t, a.Check(), "at '/global/domain'")
	assert.ErrorContains(t, wizard.CheckDomain("Not A Domain"), "not a domain name")
	assert.NoError(t, (&wizard.Answers{KeyShares: "5"}).CheckThreshold("3"))
	assert.Error(t, (&wizard.Answers{KeyShares: "2"}).CheckThreshold("3"))
}

// trimLines drops the padding the layout adds at line ends, which says nothing.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n")) + "\n"
}
