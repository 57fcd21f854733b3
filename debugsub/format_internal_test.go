package debugsub

import (
	"testing"

	"github.com/taskcontainers/containers"
)

// Reference counts above the task counts (readers holding a group) show
// as " +n", and all but the default group's permanent one are summed.
func TestFormatCSSLinksExtraReferences(t *testing.T) {
	gs := []containers.GroupInfo{
		{ID: 0, Refs: 3, Tasks: []containers.TaskID{4}},    // +2: the permanent one and one reader
		{ID: 5, Refs: 2, Tasks: []containers.TaskID{6, 7}}, // none
		{ID: 9, Refs: 3, Tasks: []containers.TaskID{8}},    // +2
	}
	want := "css_set 0 3 +2\n  task 4\n" +
		"css_set 5 2\n  task 6\n  task 7\n" +
		"css_set 9 3 +2\n  task 8\n" +
		"\nextra references = 3\n"
	if got := formatCSSLinks(gs); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := formatCSSLinks(nil); got != "" {
		t.Errorf("no groups: got %q", got)
	}
}
