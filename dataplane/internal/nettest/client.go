package nettest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

const helperEnv = "SKIFF_NETTEST_HELPER"

// Main runs the tests, or, in a process started by StartClient, the
// client helper. Call it from TestMain.
func Main(m *testing.M) {
	if os.Getenv(helperEnv) == "client" {
		os.Exit(serveClient(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// Request is one action of the client helper.
type Request struct {
	// Op is one of:
	//   tcp, tcp6: connect (tcp6: a v4-mapped address on an AF_INET6
	//     socket), send Msg, read one line;
	//   udp, udp6: unconnected sendto Addr, recvfrom;
	//   udp-connected: connect, send, receive;
	//   hold: tcp, keeping the connection as ID; send: another exchange on
	//     a held connection; close: close it;
	//   hold-udp: a connected UDP socket kept as ID (send works on it);
	//   bind: bind a TCP listener to Addr and close it.
	Op   string
	Addr string
	ID   string
	Msg  string
}

// Response is what the client saw.
type Response struct {
	// Reply is the backend's answer: "<backend name> <client address>".
	Reply string
	// Peer is the peer address as the application sees it (getpeername,
	// or the source of a received datagram).
	Peer string
	Err  string
	// Errno names the system error, e.g. ECONNREFUSED.
	Errno string
}

// Client is a helper process running inside a namespace and a cgroup.
type Client struct {
	t   testing.TB
	cmd *exec.Cmd
	enc *json.Encoder
	dec *json.Decoder
}

// StartClient starts a client process that is born inside the cgroup (so
// cgroup socket programs see it from its first socket) and inside the
// network namespace.
func StartClient(t testing.TB, cgroup string, ns *NS) *Client {
	t.Helper()
	cg, err := os.Open(cgroup)
	if err != nil {
		t.Fatalf("open cgroup: %v", err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=client")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd()), Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	path := ""
	if ns != nil {
		path = ns.Path
	}
	if err := nsutil.Do(path, cmd.Start); err != nil {
		t.Fatalf("start client: %v", err)
	}
	c := &Client{t: t, cmd: cmd, enc: json.NewEncoder(in), dec: json.NewDecoder(out)}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// Pid is the client process's id.
func (c *Client) Pid() int { return c.cmd.Process.Pid }

// Do performs one request.
func (c *Client) Do(r Request) Response {
	c.t.Helper()
	if err := c.enc.Encode(r); err != nil {
		c.t.Fatalf("client request: %v", err)
	}
	var resp Response
	if err := c.dec.Decode(&resp); err != nil {
		c.t.Fatalf("client response: %v", err)
	}
	return resp
}

// Backend returns the name of the backend that answered, or "" on error.
func (r Response) Backend() string {
	name, _, _ := strings.Cut(r.Reply, " ")
	return name
}

// ClientAddr returns the client address the backend saw.
func (r Response) ClientAddr() string {
	_, addr, _ := strings.Cut(r.Reply, " ")
	return addr
}

// serveClient is the helper process's loop.
func serveClient(in io.Reader, out io.Writer) int {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	held := make(map[string]net.Conn)
	for {
		var r Request
		if err := dec.Decode(&r); err != nil {
			return 0
		}
		enc.Encode(handle(r, held))
	}
}

const ioTimeout = 3 * time.Second

func handle(r Request, held map[string]net.Conn) Response {
	switch r.Op {
	case "tcp", "tcp6", "udp-connected", "hold", "hold-udp":
		network := map[string]string{"tcp": "tcp4", "hold": "tcp4", "tcp6": "tcp6", "udp-connected": "udp4", "hold-udp": "udp4"}[r.Op]
		c, err := dial(network, r.Addr)
		if err != nil {
			return errResponse(err)
		}
		resp := exchange(c, r.Msg)
		if r.Op == "hold" || r.Op == "hold-udp" {
			held[r.ID] = c
		} else {
			c.Close()
		}
		return resp
	case "send":
		c := held[r.ID]
		if c == nil {
			return Response{Err: "no connection " + r.ID}
		}
		return exchange(c, r.Msg)
	case "close":
		if c := held[r.ID]; c != nil {
			c.Close()
			delete(held, r.ID)
		}
		return Response{}
	case "udp", "udp6":
		return sendTo(r.Op == "udp6", r.Addr, r.Msg)
	case "bind":
		l, err := net.Listen("tcp4", r.Addr)
		if err != nil {
			return errResponse(err)
		}
		l.Close()
		return Response{}
	}
	return Response{Err: "unknown op " + r.Op}
}

// dial connects a socket; for tcp6 it uses an AF_INET6 socket and the
// v4-mapped form of Addr, as dual-stack applications do.
func dial(network, addr string) (net.Conn, error) {
	if network != "tcp6" {
		return net.DialTimeout(network, addr, ioTimeout)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()} // v4-mapped
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	f := os.NewFile(uintptr(fd), "tcp6")
	defer f.Close()
	return net.FileConn(f)
}

// exchange sends msg and reads one reply; Peer is getpeername.
func exchange(c net.Conn, msg string) Response {
	var resp Response
	if peer, err := peerName(c); err == nil {
		resp.Peer = peer
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return errResponse(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		r := errResponse(err)
		r.Peer = resp.Peer
		return r
	}
	resp.Reply = strings.TrimSpace(string(buf[:n]))
	return resp
}

func peerName(c net.Conn) (string, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return "", errors.New("no raw conn")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return "", err
	}
	var sa unix.Sockaddr
	var serr error
	raw.Control(func(fd uintptr) { sa, serr = unix.Getpeername(int(fd)) })
	if serr != nil {
		return "", serr
	}
	return sockaddrString(sa), nil
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)).String()
	}
	return fmt.Sprint(sa)
}

// sendTo sends one datagram on an unconnected socket and reports the
// reply's source as Peer.
func sendTo(v6 bool, addr, msg string) Response {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return errResponse(err)
	}
	network, laddr, dst := "udp4", &net.UDPAddr{}, net.UDPAddrFromAddrPort(ap)
	if v6 {
		// A dual-stack socket: "udp" on [::] (Go makes "udp6" v6-only).
		network = "udp"
		laddr = &net.UDPAddr{IP: net.IPv6unspecified}
		dst = net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port()))
	}
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return errResponse(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.WriteToUDPAddrPort([]byte(msg+"\n"), dst.AddrPort()); err != nil {
		return errResponse(err)
	}
	buf := make([]byte, 512)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return errResponse(err)
	}
	return Response{Reply: strings.TrimSpace(string(buf[:n])), Peer: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()).String()}
}

func errResponse(err error) Response {
	r := Response{Err: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		r.Errno = unix.ErrnoName(errno)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.Errno = "TIMEOUT"
	}
	return r
}
