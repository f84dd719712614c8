/* shadow_data.c - the variables MPICH's libmpich.so.12 exports.
 *
 * Programs and libmpichfort.so.12 refer to them by name, so the shadow
 * library must define them to load at all. Their values matter only as
 * addresses compared by the upper half, except MPI_F_STATUS(ES)_IGNORE,
 * which are NULL as in MPICH. MPI_UNWEIGHTED and MPI_WEIGHTS_EMPTY are
 * translated to the real library's where they cross to the lower half
 * (shadow_topo.c); functions taking Fortran 2008 statuses are not
 * supported yet, so none of those crosses.
 */
#include "shadow.h"

#include <mpi.h>
#include <stddef.h>

SHADOW_EXPORT MPI_Fint *MPI_F_STATUS_IGNORE = NULL;
SHADOW_EXPORT MPI_Fint *MPI_F_STATUSES_IGNORE = NULL;

SHADOW_EXPORT MPI_F08_status MPIR_F08_MPI_STATUS_IGNORE_OBJ;
SHADOW_EXPORT MPI_F08_status MPIR_F08_MPI_STATUSES_IGNORE_OBJ[1];
SHADOW_EXPORT int MPIR_F08_MPI_IN_PLACE;
SHADOW_EXPORT int MPIR_F08_MPI_BOTTOM;
SHADOW_EXPORT MPI_F08_status *MPI_F08_STATUS_IGNORE = &MPIR_F08_MPI_STATUS_IGNORE_OBJ;
SHADOW_EXPORT MPI_F08_status *MPI_F08_STATUSES_IGNORE = &MPIR_F08_MPI_STATUSES_IGNORE_OBJ[0];

/* Declared here: mpi.h does not. */
extern int MPIR_C_MPI_UNWEIGHTED;
extern int MPIR_C_MPI_WEIGHTS_EMPTY;
SHADOW_EXPORT int MPIR_C_MPI_UNWEIGHTED;
SHADOW_EXPORT int MPIR_C_MPI_WEIGHTS_EMPTY;
SHADOW_EXPORT int *const MPI_UNWEIGHTED = &MPIR_C_MPI_UNWEIGHTED;
SHADOW_EXPORT int *const MPI_WEIGHTS_EMPTY = &MPIR_C_MPI_WEIGHTS_EMPTY;

/* Any distinct non-NULL address (MPICH: a sentinel object). */
static char shadow_pvar_all_handles;
SHADOW_EXPORT struct MPIR_T_pvar_handle_s *const MPI_T_PVAR_ALL_HANDLES =
	(struct MPIR_T_pvar_handle_s *)&shadow_pvar_all_handles;
