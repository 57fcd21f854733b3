// Command cgsh is a small shell over one in-process containers.System. It
// lets a person explore hierarchies interactively, and it runs scripts that
// drive the library the way a shell script drives the kernel's cgroup v1
// file system, printing what such a script would print on the kernel.
//
// # Usage
//
//	cgsh [-cpus LIST -mems LIST] [-c 'LINE; LINE' | FILE]
//
// cgsh runs the lines of FILE, or those of -c (";" separates them), or
// those of standard input, writing the prompt "cgsh> " before each one
// only when standard input is a terminal. The exit status is 0 when the
// input was read to the end, whatever the commands did, and 2 for a usage
// error or a script that cannot be read.
//
// # Language
//
// One command per line. Blank lines and lines whose first non-blank
// character is "#" are skipped. Words are separated by spaces or tabs;
// there is no quoting, globbing or variable expansion. Paths are absolute.
//
//	mount -t cgroup [-o OPTS] SOURCE DIR
//	        mount the hierarchy that OPTS finds or makes on DIR. OPTS is the
//	        kernel's list: subsystem names, none, all, name=N, noprefix,
//	        release_agent=PATH, clone_children; without -o, all. The same
//	        options again give the same hierarchy, visible at DIR too.
//	umount DIR      unmount the hierarchy mounted at DIR
//	mkdir [-p] DIR  make a container (-p: and its missing parents)
//	rmdir DIR       remove a container
//	ls DIR          list control files and child containers, one name a
//	                line, sorted bytewise
//	cat FILE        print the file as read; /proc/cgroups and
//	                /proc/ID/cgroup are virtual files
//	echo [-n] WORDS > FILE
//	                write the words (joined by one space) and "\n" (not
//	                with -n): nothing but "\n" for no words
//	spawn ID        a task that already exists: in every root
//	fork PARENT CHILD
//	                task CHILD is forked from PARENT, in its containers
//	kill ID         task ID exits
//	sleep MS        wait MS milliseconds (for asynchronous release agents)
//
// ls and cat print what they read; other commands print nothing when they
// succeed. A command that fails prints one line "error: NAME", with the
// symbolic name of the errno the kernel would return (EBUSY, ENOENT, ...),
// and a line that is not a command prints "error: syntax: " and the line
// (without the blanks around it). Both go to standard output, in order with
// what cat and ls print, and the script goes on.
//
// # The name space
//
// cgsh models the kernel's mount table rather than a map from directory
// names to hierarchies, so that the places where the two could differ
// behave as on the kernel (each was checked on a live 6.18 kernel):
//
//   - cgsh has no host file system. A host directory exists only as a place
//     to mount on: "/", the DIR of every mount command given so far, and
//     their ancestors (the directories a harness on the kernel would have
//     made for the script's mounts). mount accepts any host directory;
//     mkdir of an existing one gives EEXIST and mkdir -p passes it; umount
//     of one that is not a mount point gives EINVAL; every other use of a
//     path outside every mounted hierarchy gives ENOENT, as the language says,
//     where the kernel would list or change a real directory.
//   - The same hierarchy mounted at two directories is visible at both.
//     Mounting a hierarchy on a directory where another one is mounted
//     stacks the new mount on top, hiding the lower one until it is
//     unmounted; mounting a hierarchy where that same hierarchy is the top
//     mount gives EBUSY, as the kernel refuses it. A hierarchy may be
//     mounted on a container of a mounted hierarchy; that container is then
//     busy (rmdir gives EBUSY through any path), and the outer mount cannot
//     be unmounted (EBUSY) until the inner one is.
//   - mount checks in the kernel's order: the mount point's path (ENOENT,
//     ENOTDIR on the way), the type (anything but cgroup is ENODEV), the
//     options (the library's Mount: EINVAL, EBUSY), and then the mount
//     point itself: a file gives ENOTDIR. A hierarchy that was found or
//     made for a mount that then fails is let go again, as the kernel drops
//     the superblock. mount(8)'s own flags (rw, nosuid, nodev, noexec,
//     relatime, ...) are dropped from -o as mount(8) does; "ro" is not
//     modelled and gives EINVAL; "remount" remounts the hierarchy whose
//     mount root DIR is (EINVAL elsewhere) with the library's Remount.
//     cgsh refuses to cover "/" and /proc and their task directories
//     (EBUSY), where the kernel would allow it.
//   - umount DIR drops the topmost mount whose root DIR is, and the
//     hierarchy's mount with it (the library keeps a hierarchy with
//     containers alive, and mounting it again shows them). A directory that
//     is not a mount root gives EINVAL, a missing one ENOENT, and /proc
//     EBUSY.
//   - Paths are walked as the kernel walks them: every component but the
//     last must be an existing directory (ENOENT, ENOTDIR), "." stays, ".."
//     goes back the way the walk came (out of a mount at its root), and a
//     trailing "/" requires a directory.
//
// # Commands on the kernel's terms
//
//   - mkdir of something that exists gives EEXIST (also for "." and ".."),
//     in a missing parent ENOENT, below a file ENOTDIR. mkdir -p makes each
//     missing level; a file on the way gives ENOTDIR, a file as the last
//     level EEXIST.
//   - rmdir of a mount point or a hierarchy root gives EBUSY, of a file
//     ENOTDIR; a last component "." gives EINVAL and ".." ENOTEMPTY, as
//     the kernel's rmdir does.
//   - echo opens its file as a shell's redirect does (O_CREAT): a directory,
//     or a path ending in "/", ".", "..", gives EISDIR; a missing file in a
//     container EACCES (cgroupfs makes no files) and in /proc ENOENT. It
//     then writes its bytes with one write, as the kernel sees a short echo;
//     "echo -n" with no words writes nothing, so it fails only where the
//     open would. Only one leading "-n" is an option; other words,
//     "-e" included, are written as they are.
//   - ls lists control files and child containers together, sorted
//     bytewise (the order of "LC_ALL=C ls"). ls of a file gives ENOTDIR,
//     as the language says, where ls(1) would print the name.
//   - /proc holds "cgroups" and a directory per live task ID (its
//     canonical decimal form only, as procfs), holding "cgroup"; ls shows
//     them. Writing /proc/cgroups gives EIO and /proc/ID/cgroup EINVAL (both
//     succeed when nothing is written); mkdir there gives ENOENT, or EEXIST
//     for what exists; rmdir gives EPERM in a task directory, ENOTDIR for
//     /proc/cgroups and EBUSY for /proc. There is no /proc/self: cgsh is
//     not a task, so "echo 0 > tasks" gives ESRCH.
//   - cat /proc/ID/cgroup prints what the library's WriteProcCgroup
//     renders: one line per hierarchy, newest first. The kernel's file ends
//     with a cgroup v2 line "0::/PATH" that has no counterpart here.
//     /proc/cgroups is the library's WriteProcCgroups.
//   - Task IDs are decimal numbers that fit 31 bits; anything else is a
//     syntax error. spawn of a live ID gives EEXIST; fork from, or kill of,
//     an ID that is not a live task ESRCH; spawn 0 or fork to 0 EINVAL.
//   - The exec release agent is run by the library with argv [path,
//     container-path] and the kernel's environment. When the input ends,
//     cgsh waits (up to 10 s) for the notifications queued so far to be
//     delivered and their agents to exit, then closes the System.
//
// # Subsystems
//
// newSubsystems is the one place that lists them: cpuset, cpuacct and
// debug (the debugsub package), with IDs 0, 1 and 2. Their roots model the host (topology.Host, and for cpuset the host kernel's
// limits) unless -cpus and -mems give the machine's online CPUs and memory
// nodes as lists ("0-3,5", the kernel's list format); either flag alone
// replaces only its half of the host's topology, and both come before the
// script file's name. cgsh charges no CPU time, so cpuacct's counters stay
// at zero; cpuset's affinity hook only records (task IDs are not real
// threads); debug's current_css_set files, which show the reading task's
// group on the kernel, are read with no task, since cgsh is not one.
//
// # Known differences from the kernel
//
// They come from the library, which cgsh shows as it is: rmdir is
// synchronous (the kernel removes a container asynchronously, so a remount
// or an umount right after an rmdir can still see it: EBUSY, or a
// hierarchy that outlives its umount); and a container name longer than 255
// bytes gives ENAMETOOLONG (today's kernel takes it).
//
// # Tests
//
// testdata/*.cgsh are golden scripts: their transcripts (each command and
// what it printed) are in the .golden files ("go test -update" rewrites
// them). testdata/kernel/*.cgsh run, as root where cgroup v1 is available,
// both on cgsh and on the kernel (on named hierarchies of the test's own,
// with real processes as tasks), and what each command prints must match.
package main
