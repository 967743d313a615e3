package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after its name and
// returns the exit status (0 ok, 1 failure, 2 usage or configuration error).
type command struct {
	summary string
	run     func(args []string) int
}

// commands maps a subcommand name to its command; files register theirs from
// init with register.
var commands = map[string]command{}

func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("nautilus: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nautilus: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd.run(args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: nautilus <command> [flags]")
	fmt.Fprintln(w)
	summaries := map[string]string{}
	for name, c := range commands {
		summaries[name] = c.summary
	}
	listCommands(w, summaries)
	fmt.Fprintln(w, `Run "nautilus <command> -h" for a command's flags.`)
}

// listCommands prints a "commands:" section, one name and summary a line,
// sorted by name, and a blank line after it.
func listCommands(w io.Writer, summaries map[string]string) {
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(summaries))
	width := 0
	for name := range summaries {
		names = append(names, name)
		width = max(width, len(name))
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, name, summaries[name])
	}
	fmt.Fprintln(w)
}
