package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress prints a progress line for long operations: rewritten in place
// on a terminal, a line every few seconds otherwise.
type progress struct {
	w        io.Writer
	off      bool
	terminal bool
	last     time.Time
	shown    bool
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, off: quiet}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) update(format string, args ...any) {
	if p.off {
		return
	}
	now := time.Now()
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.shown = true
	} else {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
	p.last = time.Time{}
}
