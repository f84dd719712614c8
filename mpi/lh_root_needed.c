/* lh_root_needed.c - an empty library whose SONAME is the absolute path of
 * the real libmpi.so.40: linking libckpt-lhroot-ompi.so against it records
 * that path as a NEEDED entry, so the lower half loads the real Open MPI
 * even though LD_LIBRARY_PATH finds the shadow library of the same name
 * first (lh_root_ompi.c). Never loaded itself. */
