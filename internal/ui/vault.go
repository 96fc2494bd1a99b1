package ui

import (
	"fmt"
	"io"

	"github.com/resimate/resimatectl/internal/vault"
)

// VaultTable prints each Vault pod's state.
func VaultTable(w io.Writer, pods []vault.PodStatus) {
	fmt.Fprintln(w, "VAULT POD\tINITIALISED\tSEALED\tROLE\tVERSION\tREADY\tERROR")
	for _, p := range pods {
		init, sealed := "-", "-"
		if p.Error == "" {
			init, sealed = fmt.Sprint(p.Initialized), fmt.Sprint(p.Sealed)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", p.Pod, init, sealed, OrDash(p.Role), OrDash(p.Version), p.Ready(), OrDash(p.Error))
	}
}
