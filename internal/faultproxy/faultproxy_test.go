package faultproxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lineServer answers each line with the same line, and counts the lines
// it received.
func lineServer(t *testing.T) (addr string, seen *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	seen = new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					seen.Add(1)
					if _, err := io.WriteString(c, strings.Repeat(line[:len(line)-1], 10)+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String(), seen
}

// ask sends one line through a new connection and returns what came back
// before the connection ended or a newline arrived.
func ask(t *testing.T, addr, line string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := bufio.NewReader(c).ReadString('\n')
	return got
}

func TestFaults(t *testing.T) {
	addr, seen := lineServer(t)
	p, err := Start(addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	full := strings.Repeat("ping", 10) + "\n"
	if got := ask(t, p.Addr(), "ping"); got != full || seen.Load() != 1 {
		t.Fatalf("no fault: got %q, server saw %d; want %q, 1", got, seen.Load(), full)
	}
	p.Arm(DropRequest)
	if got := ask(t, p.Addr(), "ping"); got != "" || seen.Load() != 1 {
		t.Errorf("dropped request: got %q, server saw %d; want nothing, still 1", got, seen.Load())
	}
	p.Arm(LoseReply)
	if got := ask(t, p.Addr(), "ping"); got != "" || seen.Load() != 2 {
		t.Errorf("lost reply: got %q, server saw %d; want nothing, 2", got, seen.Load())
	}
	p.Arm(CutReply)
	if got := ask(t, p.Addr(), "ping"); got == "" || got == full || !strings.HasPrefix(full, got) || seen.Load() != 3 {
		t.Errorf("cut reply: got %q, server saw %d; want a strict prefix of %q, 3", got, seen.Load(), full)
	}
	if s := p.Stats(); s.Requests != 4 || s.Dropped != 1 || s.Lost != 1 || s.Cut != 1 || s.Faults() != 3 {
		t.Errorf("stats %+v", s)
	}
	// Shares: every request meets the fault.
	p.SetConfig(Config{LoseReply: 1, MaxDelay: time.Millisecond})
	if got := ask(t, p.Addr(), "ping"); got != "" || seen.Load() != 4 {
		t.Errorf("LoseReply 1: got %q, server saw %d", got, seen.Load())
	}
	if s := p.Stats(); s.Lost != 2 {
		t.Errorf("stats %+v: want 2 lost", s)
	}
}
