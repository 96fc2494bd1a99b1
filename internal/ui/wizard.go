package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/wizard"
)

// WizardHooks are what the wizard's steps need from outside the terminal: the cluster, the
// real preflight checks, and the files. The command supplies them.
type WizardHooks struct {
	Contexts   []string
	UseContext func(ctx context.Context, name string) (*wizard.Cluster, error)
	// Check runs preflight checks for the answers: all of them, or only those named.
	Check func(ctx context.Context, a *wizard.Answers, only ...string) (*preflight.Report, error)
	Save  func(a *wizard.Answers) error
	// WriteValues writes the values file at path.
	WriteValues func(a *wizard.Answers, path string) error
}

// Wizard is one run of the interactive installer over its answers.
type Wizard struct {
	IO         *iostreams.IOStreams
	Answers    *wizard.Answers
	Cluster    *wizard.Cluster
	Hooks      WizardHooks
	Accessible bool
	// ValuesFile is where the review step saves the values.
	ValuesFile string
	// nav is the navigation answer of the step on screen.
	nav string
	// preflightReport is the last in-wizard preflight run, shown on its step.
	preflightReport string
}

// Navigation answers at the foot of each step.
const (
	navNext  = "next"
	navBack  = "back"
	navAgain = "again"
)

// WizardStep is one screen: its fields over the answers, and what runs once it is answered (a
// connection test, loading the cluster's classes); an error there keeps the wizard on the step.
type WizardStep struct {
	ID    string
	Title string
	Form  func(w *Wizard) []*huh.Group
	After func(ctx context.Context, w *Wizard) error
}

// WizardSteps are the steps in order; the install itself follows them.
var WizardSteps = []WizardStep{
	{ID: "cluster", Title: "1/7 Cluster", Form: clusterForm, After: useContext},
	{ID: "platform", Title: "2/7 Profile, domain and TLS", Form: platformForm, After: checkValues},
	{ID: "classes", Title: "3/7 Storage and ingress", Form: classesForm, After: checkValues},
	{ID: "postgres", Title: "4/7 PostgreSQL", Form: postgresForm, After: probe("postgres-external", func(a *wizard.Answers) bool { return a.Postgres == "external" })},
	{ID: "services", Title: "5/7 Vault, e-mail, monitoring", Form: servicesForm, After: probeServices},
	{ID: "preflight", Title: "6/7 Preflight", Form: preflightForm, After: runPreflight},
	{ID: "review", Title: "7/7 Review and save", Form: reviewForm, After: saveValues},
}

// ErrWizardAborted is returned when the user leaves with Ctrl-C; the draft keeps the answers.
var ErrWizardAborted = errors.New("wizard left: the answers so far are kept in the draft, and the next run resumes there")

// Run walks the steps from the draft's, back and forth, saving the answers after each.
func (w *Wizard) Run(ctx context.Context) error {
	if !w.Accessible {
		restore := holdKeys(w.IO.In)
		defer restore()
	}
	i := max(0, slices.IndexFunc(WizardSteps, func(s WizardStep) bool { return s.ID == w.Answers.Step }))
	if i > 0 && w.Cluster == nil {
		// Resuming: the cluster step's facts are needed by the later ones.
		if err := useContext(ctx, w); err != nil {
			i = 0
		}
	}
	for i < len(WizardSteps) {
		step := WizardSteps[i]
		w.nav = navNext
		groups := step.Form(w)
		if err := w.form(step, groups).RunWithContext(ctx); err != nil {
			if errors.Is(err, huh.ErrUserAborted) {
				return ErrWizardAborted
			}
			return err
		}
		switch w.nav {
		case navBack:
			i = max(0, i-1)
			continue
		case navAgain:
			w.preflightReport = ""
		}
		if step.After != nil {
			if err := step.After(ctx, w); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				fmt.Fprintf(w.IO.ErrOut, "%s: %v\n", step.Title, err)
				continue
			}
		}
		if w.nav == navAgain {
			continue
		}
		i++
		w.Answers.Step = ""
		if i < len(WizardSteps) {
			w.Answers.Step = WizardSteps[i].ID
		}
		if err := w.Hooks.Save(w.Answers); err != nil {
			return fmt.Errorf("saving the draft: %w", err)
		}
	}
	return nil
}

// form builds a step's form with its title and the navigation at its foot.
func (w *Wizard) form(step WizardStep, groups []*huh.Group) *huh.Form {
	opts := []huh.Option[string]{huh.NewOption("Next", navNext)}
	if step.ID == "preflight" {
		opts = []huh.Option[string]{huh.NewOption("Continue", navNext), huh.NewOption("Run the checks again", navAgain)}
	}
	if step.ID != WizardSteps[0].ID {
		opts = append(opts, huh.NewOption("Back", navBack))
	}
	nav := huh.NewGroup(huh.NewSelect[string]().Title(step.Title).Options(opts...).Value(&w.nav))
	// ErrOut wraps the terminal (the redactor), so the program is told its size and colours,
	// as the live preflight view is.
	width, height := w.IO.ErrOutSize()
	profile := colorprofile.Ascii
	if w.IO.ColorEnabled() {
		profile = colorprofile.ANSI256
	}
	f := huh.NewForm(append(groups, nav)...).WithAccessible(w.Accessible).WithInput(w.IO.In).WithOutput(w.IO.ErrOut).
		WithProgramOptions(tea.WithWindowSize(width, height), tea.WithColorProfile(profile), tea.WithoutSignalHandler())
	if !w.IO.ColorEnabled() {
		f = f.WithTheme(huh.ThemeFunc(huh.ThemeBase))
	}
	return f
}

func clusterForm(w *Wizard) []*huh.Group {
	a := w.Answers
	if a.Context == "" && len(w.Hooks.Contexts) > 0 {
		a.Context = w.Hooks.Contexts[0]
	}
	return []*huh.Group{huh.NewGroup(huh.NewSelect[string]().Title("Kubernetes context").
		Description("The cluster Resimate is installed into (from your kubeconfig)").
		Options(huh.NewOptions(w.Hooks.Contexts...)...).Value(&a.Context))}
}

func useContext(ctx context.Context, w *Wizard) error {
	c, err := w.Hooks.UseContext(ctx, w.Answers.Context)
	if err != nil {
		return err
	}
	w.Cluster = c
	return nil
}

func clusterNote(w *Wizard) *huh.Note {
	line := "no cluster read yet"
	if w.Cluster != nil {
		line = w.Cluster.Describe()
	}
	return huh.NewNote().Title(w.Answers.Context).Description(line)
}

func platformForm(w *Wizard) []*huh.Group {
	a := w.Answers
	return []*huh.Group{
		huh.NewGroup(clusterNote(w),
			huh.NewSelect[string]().Title("Profile").Options(huh.NewOptions(render.Profiles()...)...).Value(&a.Profile),
			huh.NewInput().Title("Namespace").Value(&a.Namespace).Validate(wizard.CheckNamespace),
			huh.NewInput().Title("Domain").Description("The platform's address, e.g. resimate.example.com").Value(&a.Domain).Validate(wizard.CheckDomain),
			huh.NewSelect[string]().Title("TLS certificate").Options(
				huh.NewOption("cert-manager with ACME (Let's Encrypt)", wizard.TLSACME),
				huh.NewOption("cert-manager with your CA (a CA issuer)", wizard.TLSCA),
				huh.NewOption("An existing Secret", wizard.TLSSecret)).Value(&a.TLS)),
		huh.NewGroup(huh.NewInput().Title("cert-manager ClusterIssuer").Value(&a.Issuer).Validate(wizard.CheckNamespace)).
			WithHideFunc(func() bool { return a.TLS == wizard.TLSSecret }),
		huh.NewGroup(huh.NewInput().Title("TLS Secret in the namespace").Value(&a.TLSSecret).Validate(wizard.CheckNamespace)),
	}
}

// checkValues applies the chart's schema to the answers so far.
func checkValues(_ context.Context, w *Wizard) error { return w.Answers.Check() }

func classesForm(w *Wizard) []*huh.Group {
	a := w.Answers
	c := w.Cluster
	if c == nil {
		c = &wizard.Cluster{}
	}
	if a.StorageClass == "" {
		a.StorageClass = c.DefaultStorageClass
	}
	if a.IngressClass == "" && len(c.IngressClasses) > 0 {
		a.IngressClass = c.IngressClasses[0]
	}
	return []*huh.Group{huh.NewGroup(
		classField("Storage class", "For PostgreSQL and Vault volumes", c.StorageClasses, &a.StorageClass),
		classField("Ingress class", "The ingress controller that serves the platform", c.IngressClasses, &a.IngressClass))}
}

// classField offers the cluster's classes, or a name to type when it has none yet.
func classField(title, desc string, classes []string, value *string) huh.Field {
	if len(classes) == 0 {
		return huh.NewInput().Title(title).Description(desc + " (the cluster has none yet)").Value(value).Validate(wizard.CheckNamespace)
	}
	return huh.NewSelect[string]().Title(title).Description(desc).Options(huh.NewOptions(classes...)...).Value(value)
}

func postgresForm(w *Wizard) []*huh.Group {
	a := w.Answers
	return []*huh.Group{
		huh.NewGroup(huh.NewSelect[string]().Title("PostgreSQL").Options(
			huh.NewOption("CloudNativePG in the cluster", "operator"),
			huh.NewOption("An external server (RDS, Azure, Cloud SQL, your own)", "external")).Value(&a.Postgres)),
		huh.NewGroup(
			huh.NewInput().Title("Host").Value(&a.PostgresHost).Validate(wizard.CheckDomain),
			huh.NewInput().Title("Port").Value(&a.PostgresPort).Validate(wizard.CheckPort),
			huh.NewInput().Title("Admin URL (for the connection test and install; not saved)").
				Placeholder("postgres://admin:…@host:5432/postgres").EchoMode(huh.EchoModePassword).Value(&a.PostgresAdminURL)).
			WithHideFunc(func() bool { return a.Postgres != "external" }),
	}
}

func servicesForm(w *Wizard) []*huh.Group {
	a := w.Answers
	return []*huh.Group{
		huh.NewGroup(huh.NewSelect[string]().Title("Vault").Options(
			huh.NewOption("Bundled: a 3-node Raft cluster that install initialises", wizard.VaultBundled),
			huh.NewOption("Bundled, initialised by your operators (a key ceremony)", wizard.VaultOperators),
			huh.NewOption("External: your Vault", wizard.VaultExternal)).Value(&a.Vault)),
		huh.NewGroup(
			huh.NewInput().Title("Unseal key shares").Value(&a.KeyShares).Validate(wizard.CheckKeyShares),
			huh.NewInput().Title("Key threshold").Value(&a.KeyThreshold).Validate(a.CheckThreshold),
			huh.NewInput().Title("Recipients of the unseal keys: age or SSH public keys, comma-separated").Value(&a.Recipients).Validate(wizard.CheckRecipients)).
			WithHideFunc(func() bool { return a.Vault != wizard.VaultBundled }),
		huh.NewGroup(huh.NewInput().Title("Vault address").Value(&a.VaultAddress).Validate(wizard.CheckURL),
			huh.NewInput().Title("CA certificate file (PEM) of Vault's certificate; empty for the system's CAs").Value(&a.VaultCAFile).Validate(wizard.CheckCAFile)).
			WithHideFunc(func() bool { return a.Vault != wizard.VaultExternal }),
		huh.NewGroup(
			huh.NewInput().Title("SMTP server (empty: no e-mail)").Value(&a.SMTPHost),
			huh.NewInput().Title("SMTP port").Value(&a.SMTPPort).Validate(wizard.CheckPort),
			huh.NewConfirm().Title("Monitoring (Prometheus, Grafana, Alertmanager)").Value(&a.Monitoring),
			huh.NewConfirm().Title("Logging (Loki, Fluent Bit)").Value(&a.Logging)),
	}
}

// probe runs one preflight check in place when it applies; a failure keeps the wizard on the step.
func probe(id string, applies func(*wizard.Answers) bool) func(context.Context, *Wizard) error {
	return func(ctx context.Context, w *Wizard) error {
		if err := w.Answers.Check(); err != nil || !applies(w.Answers) {
			return err
		}
		return w.probe(ctx, id)
	}
}

func (w *Wizard) probe(ctx context.Context, ids ...string) error {
	rep, err := w.Hooks.Check(ctx, w.Answers, ids...)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	_ = WriteChecks(&buf, rep, w.IO.ColorEnabled())
	fmt.Fprint(w.IO.ErrOut, buf.String())
	if failed := rep.Failures(); len(failed) > 0 {
		return fmt.Errorf("fix and try again: %s", strings.Join(failed, "; "))
	}
	return nil
}

func probeServices(ctx context.Context, w *Wizard) error {
	if err := w.Answers.Check(); err != nil {
		return err
	}
	var ids []string
	if w.Answers.Vault == wizard.VaultExternal {
		ids = append(ids, "vault-external")
	}
	if w.Answers.SMTPHost != "" {
		ids = append(ids, "smtp")
	}
	if len(ids) == 0 {
		return nil
	}
	return w.probe(ctx, ids...)
}

func preflightForm(w *Wizard) []*huh.Group {
	desc := w.preflightReport
	if desc == "" {
		desc = "The checks run when you continue, the same as 'resimatectl preflight'."
	}
	return []*huh.Group{huh.NewGroup(huh.NewNote().Title("Preflight").Description(desc))}
}

// runPreflight runs every check; the report stays on the step's screen, and a failure keeps
// the wizard there until it passes.
func runPreflight(ctx context.Context, w *Wizard) error {
	rep, err := w.Hooks.Check(ctx, w.Answers)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	_ = WriteChecks(&buf, rep, false)
	w.preflightReport = buf.String()
	_ = WriteChecks(w.IO.ErrOut, rep, w.IO.ColorEnabled())
	if failed := rep.Failures(); len(failed) > 0 {
		return fmt.Errorf("%d check(s) failed: fix them (in the cluster, or by going back) and run the checks again", len(failed))
	}
	return nil
}

func reviewForm(w *Wizard) []*huh.Group {
	values, err := w.Answers.ValuesYAML(w.ValuesFile)
	desc := string(values)
	if err != nil {
		desc = err.Error()
	}
	return []*huh.Group{huh.NewGroup(
		huh.NewNote().Title("Values").Description(desc),
		huh.NewInput().Title("Save the values file as").Value(&w.ValuesFile).Validate(func(s string) error {
			if strings.TrimSpace(s) == "" {
				return errors.New("give a file name")
			}
			return nil
		}))}
}

func saveValues(_ context.Context, w *Wizard) error {
	return w.Hooks.WriteValues(w.Answers, w.ValuesFile)
}
