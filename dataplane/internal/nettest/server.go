package nettest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
)

// Server is a backend that answers every line (TCP) or datagram (UDP)
// with "<name> <client address>".
type Server struct {
	Name string

	mu    sync.Mutex
	tcp   net.Listener
	udp   net.PacketConn
	conns map[net.Conn]bool
}

// Serve starts a TCP and a UDP server on addr (ip:port) inside ns. Both
// stop at cleanup.
func Serve(t testing.TB, ns *NS, addr, name string) *Server {
	t.Helper()
	s := &Server{Name: name, conns: make(map[net.Conn]bool)}
	ns.Do(t, func() error {
		var err error
		if s.tcp, err = net.Listen("tcp4", addr); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp4", addr)
		return err
	})
	go s.acceptTCP()
	go s.serveUDP()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes its open connections, like a
// backend process that exits.
func (s *Server) Close() {
	s.tcp.Close()
	s.udp.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) acceptTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		if _, err := fmt.Fprintf(c, "%s %s\n", s.Name, c.RemoteAddr()); err != nil {
			return
		}
	}
}

func (s *Server) serveUDP() {
	buf := make([]byte, 1500)
	for {
		_, from, err := s.udp.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		s.udp.WriteTo([]byte(fmt.Sprintf("%s %s\n", s.Name, from)), from)
	}
}
