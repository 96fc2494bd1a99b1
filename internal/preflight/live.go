package preflight

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
)

// Live shows the checks on a terminal as they run: a spinner beside each running check, its
// mark once it ends. Use it as the runner's Observer, then call Wait.
type Live struct {
	prog *tea.Program
	done chan struct{}
	once sync.Once
}

type startedMsg struct{ id, desc string }
type finishedMsg struct{ r Result }
type quitMsg struct{}

type liveModel struct {
	spin    spinner.Model
	order   []string
	running map[string]string
	results map[string]Result
	color   bool
}

// NewLive starts the live view of checks, in their report order, writing to out.
func NewLive(out io.Writer, in io.Reader, color bool, checks []*Check) *Live {
	m := liveModel{spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)), running: map[string]string{}, results: map[string]Result{}, color: color}
	for _, c := range checks {
		m.order = append(m.order, c.ID)
	}
	l := &Live{prog: tea.NewProgram(m, tea.WithOutput(out), tea.WithInput(in)), done: make(chan struct{})}
	go func() {
		_, _ = l.prog.Run()
		close(l.done)
	}()
	return l
}

func (l *Live) Started(c *Check)  { l.prog.Send(startedMsg{id: c.ID, desc: c.Description}) }
func (l *Live) Finished(r Result) { l.prog.Send(finishedMsg{r: r}) }

// Wait ends the live view and waits until its last frame is drawn.
func (l *Live) Wait() {
	l.once.Do(func() { l.prog.Send(quitMsg{}) })
	<-l.done
}

func (m liveModel) Init() tea.Cmd { return m.spin.Tick }

func (m liveModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case startedMsg:
		m.running[msg.id] = msg.desc
	case finishedMsg:
		delete(m.running, msg.r.ID)
		m.results[msg.r.ID] = msg.r
	case quitMsg:
		return m, tea.Quit
	case tea.KeyMsg:
		if msg.String() == "ctrl+c" {
			return m, tea.Quit
		}
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m liveModel) View() string {
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
	return b.String()
}
