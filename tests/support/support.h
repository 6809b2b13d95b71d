/* Helpers shared by the unit tests (linked into each of them, never into a program). */
#ifndef ALLOT_TESTS_SUPPORT_H
#define ALLOT_TESTS_SUPPORT_H

/* Remove path and everything under it, making directories writable first (tests leave
 * read-only directories behind on purpose). Only for the tests' own temporary files. */
void support_remove_tree(const char *path);

#endif
