// Package realpods holds the tests that install the platform on the test environment's
// real-pod cluster (testenv.RealPods), where the kubelet starts its pods, runs their probes and
// kube-router enforces its NetworkPolicies. It has no code of its own.
package realpods
