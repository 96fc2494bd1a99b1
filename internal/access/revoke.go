package access

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	kratos "github.com/ory/kratos-client-go"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Revocation is one planned revocation: what it will do, and the function that does it.
type Revocation struct {
	Action string `json:"action"`
	Target string `json:"target"`
	// Plan is what will change, in words.
	Plan string `json:"plan"`
	do   func(context.Context) error
}

// Do carries the revocation out.
func (r *Revocation) Do(ctx context.Context) error { return r.do(ctx) }

// PlanIdentity deactivates an identity and revokes its sessions: an inactive identity cannot
// sign in, and sessions it already has end with it.
func PlanIdentity(ctx context.Context, admin *kratos.APIClient, id string) (*Revocation, error) {
	ident, sessions, err := identityAndSessions(ctx, admin, id)
	if err != nil {
		return nil, err
	}
	state := "active"
	if ident.State != nil {
		state = *ident.State
	}
	return &Revocation{Action: "deactivate-identity", Target: "identity/" + id,
		Plan: fmt.Sprintf("set identity %s (%s) from %s to inactive, and revoke its %d active session(s)", id, emailOf(ident.Traits), state, sessions),
		do: func(ctx context.Context) error {
			patch := []kratos.JsonPatch{{Op: "replace", Path: "/state", Value: "inactive"}}
			if _, _, err := admin.IdentityAPI.PatchIdentity(ctx, id).JsonPatch(patch).Execute(); err != nil {
				return fmt.Errorf("deactivating identity %s: %w", id, err)
			}
			return deleteSessions(ctx, admin, id)
		}}, nil
}

// PlanSessions revokes every session of an identity.
func PlanSessions(ctx context.Context, admin *kratos.APIClient, id string) (*Revocation, error) {
	ident, sessions, err := identityAndSessions(ctx, admin, id)
	if err != nil {
		return nil, err
	}
	return &Revocation{Action: "revoke-sessions", Target: "identity/" + id,
		Plan: fmt.Sprintf("revoke the %d active session(s) of identity %s (%s)", sessions, id, emailOf(ident.Traits)),
		do:   func(ctx context.Context) error { return deleteSessions(ctx, admin, id) }}, nil
}

// identityAndSessions reads the identity a plan names and counts its active sessions.
func identityAndSessions(ctx context.Context, admin *kratos.APIClient, id string) (*kratos.Identity, int, error) {
	ident, resp, err := admin.IdentityAPI.GetIdentity(ctx, id).Execute()
	if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest) {
		return nil, 0, fmt.Errorf("no Kratos identity %q", id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading identity %s: %w", id, err)
	}
	list, _, err := admin.IdentityAPI.ListIdentitySessions(ctx, id).Active(true).PageSize(1000).Execute()
	if err != nil {
		return nil, 0, fmt.Errorf("listing the sessions of identity %s: %w", id, err)
	}
	return ident, len(list), nil
}

func deleteSessions(ctx context.Context, admin *kratos.APIClient, id string) error {
	resp, err := admin.IdentityAPI.DeleteIdentitySessions(ctx, id).Execute()
	// 404: the identity has no session left, which is the goal.
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		return fmt.Errorf("revoking the sessions of identity %s: %w", id, err)
	}
	return nil
}

// PlanBinding deletes a RoleBinding ("namespace/name") or a ClusterRoleBinding ("name").
func PlanBinding(ctx context.Context, c kubernetes.Interface, ref string) (*Revocation, error) {
	ns, name, namespaced := strings.Cut(ref, "/")
	if !namespaced {
		ns, name = "", ref
	}
	if name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("--binding takes NAMESPACE/NAME for a RoleBinding or NAME for a ClusterRoleBinding, not %q", ref)
	}
	describe := func(kind, role string, subjects []string) string {
		return fmt.Sprintf("delete %s %s, which binds %s to %s", kind, ref, role, strings.Join(subjects, ", "))
	}
	if namespaced {
		b, err := c.RbacV1().RoleBindings(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, bindingError(err, "RoleBinding", ref)
		}
		return &Revocation{Action: "delete-binding", Target: "RoleBinding/" + ref,
			Plan: describe("RoleBinding", b.RoleRef.Kind+"/"+b.RoleRef.Name, subjectNames(b.Subjects, ns)),
			do: func(ctx context.Context) error {
				return c.RbacV1().RoleBindings(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &b.UID}})
			}}, nil
	}
	b, err := c.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, bindingError(err, "ClusterRoleBinding", ref)
	}
	return &Revocation{Action: "delete-binding", Target: "ClusterRoleBinding/" + ref,
		Plan: describe("ClusterRoleBinding", b.RoleRef.Kind+"/"+b.RoleRef.Name, subjectNames(b.Subjects, "")),
		do: func(ctx context.Context) error {
			return c.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &b.UID}})
		}}, nil
}

func bindingError(err error, kind, ref string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no %s %s", kind, ref)
	}
	return fmt.Errorf("reading %s %s: %w", kind, ref, err)
}

func subjectNames(subjects []rbacv1.Subject, ns string) []string {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		out = append(out, kubeSubject(s, ns).ID)
	}
	return out
}
