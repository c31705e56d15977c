package backup

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress reports a phase's advance: a bar redrawn in place on a
// terminal, a plain line now and then otherwise (logs, CI).
type Progress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu           sync.Mutex
	phase        string
	total, done  int
	bytes, bDone int64
	last         time.Time
	lastPct      int
	lastLine     string
}

// NewProgress reports to w; tty selects the bar. A nil *Progress reports
// nothing.
func NewProgress(w io.Writer, tty bool) *Progress {
	every := 10 * time.Second
	if tty {
		every = 100 * time.Millisecond
	}
	return &Progress{w: w, tty: tty, every: every}
}

// IsTerminal reports whether f is a terminal (a character device), which
// is all the bar needs to know.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Start begins a phase of total items of totalBytes bytes.
func (p *Progress) Start(phase string, total int, totalBytes int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.total, p.done, p.bytes, p.bDone, p.lastPct = phase, total, 0, totalBytes, 0, -10
	p.last, p.lastLine = time.Time{}, ""
	p.draw(false)
}

// Add counts n items of b bytes done.
func (p *Progress) Add(n int, b int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.bDone += b
	p.draw(false)
}

// Finish ends the phase with a final line.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *Progress) draw(final bool) {
	pct := 100
	if p.total > 0 {
		pct = p.done * 100 / p.total
	}
	now := time.Now()
	if !final {
		// A bar at most every 100ms; lines at each tenth or every 10s.
		if p.tty && now.Sub(p.last) < p.every {
			return
		}
		if !p.tty && pct/10 == p.lastPct/10 && now.Sub(p.last) < p.every {
			return
		}
	}
	p.last, p.lastPct = now, pct
	counts := fmt.Sprintf("%s %d/%d, %s/%s", p.phase, p.done, p.total, human(p.bDone), human(p.bytes))
	if !p.tty {
		if line := fmt.Sprintf("%s (%d%%)", counts, pct); line != p.lastLine {
			fmt.Fprintln(p.w, line)
			p.lastLine = line
		}
		return
	}
	const width = 30
	fill := pct * width / 100
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %s\x1b[K", strings.Repeat("#", fill), strings.Repeat(" ", width-fill), pct, counts)
}

// human formats a byte count with a binary unit.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
