// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Owns the terminal while otel-agent top is interactive (screen.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <curses.h>
#include "top/screen.h"

#define PAIR_ALERT 1

static bool colours;
static SCREEN *screen;

int top_screen_open(void)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return -ENOTTY;
	/* not initscr, which exits the process on a TERM it does not know */
	screen = newterm(NULL, stdout, stdin);
	if (!screen)
		return -ENOTTY;
	set_term(screen);
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	colours = has_colors();
	if (colours && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_ALERT, COLOR_RED, -1);
	} else {
		colours = false;
	}
	return 0;
}

int top_screen_width(void)
{
	return COLS;
}

void top_screen_draw(const char *text, int head_lines, int column_line, const bool *alert,
		     size_t nr_alert)
{
	int y = 0;

	erase();
	for (const char *p = text; *p && y < LINES; y++) {
		const char *eol = strchr(p, '\n');
		int n = eol ? (int)(eol - p) : (int)strlen(p);
		attr_t attr = A_NORMAL;

		if (y < head_lines)
			attr = A_BOLD;
		else if (y == column_line)
			attr = A_REVERSE;
		else if (colours && (size_t)y < nr_alert && alert[y])
			attr = COLOR_PAIR(PAIR_ALERT);
		attron(attr);
		mvaddnstr(y, 0, p, n < COLS ? n : COLS);
		attroff(attr);
		p = eol ? eol + 1 : p + n;
	}
	/* all of it: a log line the agent wrote to the terminal meanwhile is wiped */
	clearok(stdscr, TRUE);
	refresh();
}

int top_screen_key(int timeout_ms)
{
	int c;

	timeout(timeout_ms);
	c = getch();
	return c == ERR ? -1 : c;
}

bool top_screen_prompt(const char *prompt, char *out, size_t len)
{
	size_t n = strnlen(out, len - 1); /* what is there is edited */
	int c;

	timeout(-1);
	curs_set(1);
	for (;;) {
		move(LINES - 1, 0);
		clrtoeol();
		attron(A_BOLD);
		addstr(prompt);
		attroff(A_BOLD);
		addnstr(out, (int)n);
		refresh();
		c = getch();
		if (c == '\n' || c == KEY_ENTER || c == 27)
			break;
		if ((c == KEY_BACKSPACE || c == 127 || c == 8) && n)
			n--;
		else if (c >= 32 && c < 127 && n + 1 < len)
			out[n++] = (char)c;
	}
	curs_set(0);
	out[n] = '\0';
	return c != 27;
}

void top_screen_close(void)
{
	if (!screen)
		return;
	endwin();
	delscreen(screen);
	screen = NULL;
}
