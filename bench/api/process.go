package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/testenv"
)

// serverProcess is `skiff server --disable-agent` running as a child
// process, so that its memory is its own.
type serverProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string
	target  target
}

// startServer runs the skiff binary bin with its data in dir on free
// localhost ports and waits until the API is ready.
func startServer(ctx context.Context, bin, dir string) (*serverProcess, error) {
	ports, err := testenv.FindFreePorts(3)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--log-level", "warn", "server", "--disable-agent",
		"--node-name", "bench", "--data-dir", dataDir, "--bind-address", "127.0.0.1",
		"--https-listen-port", strconv.Itoa(ports[0]),
		"--etcd-client-port", strconv.Itoa(ports[1]),
		"--etcd-peer-port", strconv.Itoa(ports[2]))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server must not outlive the benchmark, even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serverProcess{cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	p.target = target{
		pid:          cmd.Process.Pid,
		etcdEndpoint: "127.0.0.1:" + strconv.Itoa(ports[1]),
		describe:     "`skiff server --disable-agent` as a child process (built from this tree)",
	}
	if err := p.waitReady(ctx, filepath.Join(dataDir, "kubeconfig")); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w (server log: %s)", err, p.logTail())
	}
	return p, nil
}

func (p *serverProcess) waitReady(ctx context.Context, kubeconfig string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("server exited before it was ready: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			last = err
			continue
		}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("client for %s: %w", kubeconfig, err)
		}
		if _, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
			last = err
			continue
		}
		p.target.cfg = cfg
		return nil
	}
}

// logTail is the end of the server's log, for error messages.
func (p *serverProcess) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop sends SIGTERM, then SIGKILL if the server has not exited within
// 15 s, and reports an exit other than a clean one.
func (p *serverProcess) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("server exited during the benchmark: %v", p.waitErr)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("server did not stop within 15s of SIGTERM")
	}
	return nil
}

// running reports an error if the server has exited.
func (p *serverProcess) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("server exited: %v; log: %s", p.waitErr, p.logTail())
	default:
		return nil
	}
}
