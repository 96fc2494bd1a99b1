package shared

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/resimate/resimatectl/internal/iostreams"
)

// Confirm asks a yes/no question on the terminal; anything but y or yes is no.
func Confirm(s *iostreams.IOStreams, question string) bool {
	fmt.Fprintf(s.ErrOut, "%s [y/N]: ", question)
	answer, _ := bufio.NewReader(s.In).ReadString('\n')
	a := strings.TrimSpace(answer)
	return strings.EqualFold(a, "y") || strings.EqualFold(a, "yes")
}
