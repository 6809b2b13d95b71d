/* Helpers shared by the unit tests (linked into each of them, never into a program). */
#ifndef ALLOT_TESTS_SUPPORT_H
#define ALLOT_TESTS_SUPPORT_H

/* Remove path and everything under it, making directories writable first (tests leave
 * read-only directories behind on purpose). Only for the tests' own temporary files. */
void support_remove_tree(const char *path);

/* Sleep ms milliseconds (again after a signal). */
void support_sleep_ms(int ms);

/* Whether pid has ended: there is no such process, or it is a zombie. */
int support_dead(int pid);

#endif
