package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// A progress bar appears while hashing takes long: when stderr is a terminal
// and there are at least progressMinBytes to hash, or hashing has already
// taken progressDelay.
const (
	progressMinBytes = 256 << 20
	progressDelay    = 2 * time.Second
	progressEvery    = 100 * time.Millisecond
	progressWidth    = 30
)

// progress draws one line on a terminal: "hashing products [=====>   ] 42% 1.2 GiB/2.9 GiB".
type progress struct {
	w     io.Writer
	label string
	start time.Time
	last  time.Time
	shown bool
}

// newProgress returns a bar for w, or nil when w is not a terminal.
func newProgress(w io.Writer, label string) *progress {
	if !isTerminal(w) {
		return nil
	}
	return &progress{w: w, label: label, start: time.Now()}
}

// update is an attestor.Recorder Progress callback.
func (p *progress) update(done, total int64) {
	now := time.Now()
	if !p.shown && total < progressMinBytes && now.Sub(p.start) < progressDelay {
		return
	}
	if p.shown && done < total && now.Sub(p.last) < progressEvery {
		return
	}
	p.shown, p.last = true, now
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * progressWidth)
	bar := make([]byte, progressWidth)
	for i := range bar {
		switch {
		case i < filled:
			bar[i] = '='
		case i == filled:
			bar[i] = '>'
		default:
			bar[i] = ' '
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %s/%s ", p.label, bar, frac*100, byteSize(done), byteSize(total))
}

// finish ends the bar's line, if one was drawn.
func (p *progress) finish() {
	if p != nil && p.shown {
		fmt.Fprintln(p.w)
	}
}

// callback returns p.update, or nil for no bar.
func (p *progress) callback() func(done, total int64) {
	if p == nil {
		return nil
	}
	return p.update
}

func byteSize(n int64) string {
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

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
