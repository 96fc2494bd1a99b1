package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/preflight"
)

// LiveChecks shows preflight checks on a terminal as they run: a spinner beside each running
// check, its mark once it ends. Use it as the runner's Observer, then call Wait. The terminal
// is put in raw mode, so Ctrl-C arrives as a key: it calls interrupt, which must stop the
// checks the way SIGINT would.
type LiveChecks struct {
	prog *tea.Program
	done chan struct{}
	once sync.Once
}

type checkStartedMsg struct{ id, desc string }
type checkFinishedMsg struct{ r preflight.Result }
type quitMsg struct{}

type checksModel struct {
	spin      spinner.Model
	order     []string
	running   map[string]string
	results   map[string]preflight.Result
	color     bool
	interrupt func()
}

// NewLiveChecks starts the live view of checks, in their report order, writing to out.
func NewLiveChecks(ctx context.Context, streams *iostreams.IOStreams, checks []*preflight.Check, interrupt func()) *LiveChecks {
	color := streams.ColorEnabled()
	m := checksModel{spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)), running: map[string]string{},
		results: map[string]preflight.Result{}, color: color, interrupt: interrupt}
	for _, c := range checks {
		m.order = append(m.order, c.ID)
	}
	// The root command owns SIGINT and SIGTERM; the view only draws.
	// ErrOut wraps the terminal (the redactor), so the program is told its size and colours.
	width, height := streams.ErrOutSize()
	profile := colorprofile.Ascii
	if color {
		profile = colorprofile.ANSI256
	}
	l := &LiveChecks{prog: tea.NewProgram(m, tea.WithContext(ctx), tea.WithOutput(streams.ErrOut), tea.WithInput(streams.In),
		tea.WithoutSignalHandler(), tea.WithWindowSize(width, height), tea.WithColorProfile(profile)),
		done: make(chan struct{})}
	go func() {
		_, _ = l.prog.Run()
		close(l.done)
	}()
	return l
}

// Started and Finished make LiveChecks a preflight.Observer.
func (l *LiveChecks) Started(c *preflight.Check) {
	l.prog.Send(checkStartedMsg{id: c.ID, desc: c.Description})
}
func (l *LiveChecks) Finished(r preflight.Result) { l.prog.Send(checkFinishedMsg{r: r}) }

// Wait ends the live view and waits until its last frame is drawn.
func (l *LiveChecks) Wait() {
	l.once.Do(func() { l.prog.Send(quitMsg{}) })
	<-l.done
}

func (m checksModel) Init() tea.Cmd { return m.spin.Tick }

func (m checksModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case checkStartedMsg:
		m.running[msg.id] = msg.desc
	case checkFinishedMsg:
		delete(m.running, msg.r.ID)
		m.results[msg.r.ID] = msg.r
	case quitMsg:
		return m, tea.Quit
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" && m.interrupt != nil {
			m.interrupt()
			return m, tea.Quit
		}
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m checksModel) View() tea.View {
	var b strings.Builder
	width := 0
	for _, id := range m.order {
		width = max(width, len(id))
	}
	for _, id := range m.order {
		if r, ok := m.results[id]; ok {
			b.WriteString(formatResult(r, width, m.color))
			continue
		}
		if desc, ok := m.running[id]; ok {
			fmt.Fprintf(&b, "%s %-*s  %s\n", m.spin.View(), width, id, desc)
			continue
		}
		fmt.Fprintf(&b, "· %-*s  waiting\n", width, id)
	}
	return tea.NewView(b.String())
}
