package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Forward is a local port that reaches a pod's port through the API server, as
// `kubectl port-forward` does.
type Forward struct {
	// Address is 127.0.0.1:<local port>.
	Address string
	stop    context.CancelFunc
	done    chan struct{}
}

// Ended is closed when the forward has ended (its connection to the node closed).
func (f *Forward) Ended() <-chan struct{} { return f.done }

// Close ends the forward.
func (f *Forward) Close() {
	f.stop()
	<-f.done
}

// PortForward opens a forward to port of pod ns/name through the API server's pods/portforward,
// on a free loopback port. It ends with ctx or Close.
func PortForward(ctx context.Context, cfg *rest.Config, ns, pod string, port int) (*Forward, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	url := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)

	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, ready, io.Discard, io.Discard)
	if err != nil {
		cancel()
		return nil, err
	}
	f := &Forward{stop: cancel, done: make(chan struct{})}
	failed := make(chan error, 1)
	go func() {
		defer close(f.done)
		failed <- fw.ForwardPorts()
	}()
	select {
	case <-ready:
	case err := <-failed:
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", ns, pod, port, err)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		f.Close()
		return nil, fmt.Errorf("port-forward to pod %s/%s: no local port (%v)", ns, pod, err)
	}
	f.Address = fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
	return f, nil
}
