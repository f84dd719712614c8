! mpi_cycle_f.f90 - the Fortran counterpart of mpi_cycle.c: an MPI program
! (`use mpi`, Debian's libmpichfort.so.12 on top of libmpich.so.12) to
! checkpoint at random moments. Every iteration does point-to-point (a ring
! with MPI_Sendrecv, a strided MPI_Type_vector exchanged with
! MPI_Isend/MPI_Irecv + MPI_Waitall, MPI_Recv with MPI_ANY_SOURCE on rank 0,
! and every 16th iteration a 4 MiB message left in flight across the
! sleep), collectives on MPI_COMM_WORLD (MPI_Allreduce with MPI_SUM,
! MPI_Bcast, MPI_Allgather) and MPI_Allreduce with MPI_BXOR on an
! MPI_Comm_split communicator, then sleeps.
!
!   mpi_cycle_f ITERATIONS SLEEP_MS
!
! All arithmetic is on integer(8) with wrap-around (built with -fwrapv), so
! results do not depend on the order a collective reduces in. Prints
! "iter N" every 10 iterations (rank 0) and at the end one line per rank
! "rank R state HEX" and on rank 0 "result HEX": a run that was checkpointed
! and restarted must print exactly what an uninterrupted run prints.
! Every MPI function called here is in the shadow library's supported list
! (docs/mpi.md).
module cycle_f
  use mpi
  use, intrinsic :: iso_c_binding, only: c_int
  use, intrinsic :: iso_fortran_env, only: output_unit, error_unit
  implicit none
  private
  public :: cycle_init, cycle_iter, cycle_report, cycle_end, end_gate

  integer, parameter :: cells = 4096 ! state words per rank
  integer, parameter :: big_words = 512 * 1024 ! 4 MiB rendezvous message
  integer, parameter :: tag_ring = 1
  integer, parameter :: tag_any = 2
  integer, parameter :: tag_big = 3
  integer, parameter :: tag_vec = 4
  ! Odd 64-bit multipliers of a splitmix-style finaliser (below 2**63, so
  ! they are valid integer(8) literals).
  integer(8), parameter :: mul1 = 9202255479958630789_8
  integer(8), parameter :: mul2 = 2139054937312826837_8

  integer :: rank, nranks
  integer :: half ! ranks of the same parity
  integer :: every_other ! every second word of the state
  integer(8) :: state(cells)
  integer(8) :: vec_in(cells)
  integer(8), allocatable :: big_out(:), big_in(:)
  integer :: big_req(2)

  interface
    ! libc's usleep: MPI_Wtime busy-waiting would burn the 2 cores the 4
    ! ranks share.
    function c_usleep(usec) bind(c, name='usleep') result(rc)
      import :: c_int
      integer(c_int), value :: usec
      integer(c_int) :: rc
    end function c_usleep
  end interface

contains

  pure function mix(x0) result(x)
    integer(8), intent(in) :: x0
    integer(8) :: x

    x = ieor(x0, ishft(x0, -31))
    x = x * mul1
    x = ieor(x, ishft(x, -27))
    x = x * mul2
    x = ieor(x, ishft(x, -33))
  end function mix

  subroutine check(ierr, what)
    integer, intent(in) :: ierr
    character(*), intent(in) :: what
    integer :: e

    if (ierr /= MPI_SUCCESS) then
      write (error_unit, '(a,a,a,i0,a)') 'mpi_cycle_f: ', what, ' failed (', ierr, ')'
      call MPI_Abort(MPI_COMM_WORLD, 1, e)
    end if
  end subroutine check

  ! Sleeps @ms milliseconds of wall time (a signal may cut usleep short).
  subroutine sleep_ms(ms)
    integer, intent(in) :: ms
    double precision :: until
    integer(c_int) :: rc

    until = MPI_Wtime() + ms / 1000d0
    do while (MPI_Wtime() < until)
      rc = c_usleep(int(max(1d0, (until - MPI_Wtime()) * 1d6), c_int))
    end do
  end subroutine sleep_ms

  ! With CKPT_TEST_END_GATE=PATH set, waits until PATH exists: a test holds
  ! every rank here until its last checkpoint is taken (end_gate.h in C).
  subroutine end_gate()
    character(4096) :: path
    integer :: length, st
    logical :: open_gate

    call get_environment_variable('CKPT_TEST_END_GATE', path, length, st)
    if (st /= 0) return
    inquire (file=path(1:length), exist=open_gate)
    do while (.not. open_gate)
      call sleep_ms(5)
      inquire (file=path(1:length), exist=open_gate)
    end do
  end subroutine end_gate

  subroutine cycle_init()
    integer :: ierr, i

    call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
    call check(ierr, 'MPI_Comm_rank')
    call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
    call check(ierr, 'MPI_Comm_size')
    call MPI_Comm_split(MPI_COMM_WORLD, mod(rank, 2), rank, half, ierr)
    call check(ierr, 'MPI_Comm_split')
    call MPI_Type_vector(cells / 2, 1, 2, MPI_INTEGER8, every_other, ierr)
    call check(ierr, 'MPI_Type_vector')
    call MPI_Type_commit(every_other, ierr)
    call check(ierr, 'MPI_Type_commit')
    do i = 1, cells
      state(i) = mix(int(rank, 8) * cells + i)
    end do
    allocate (big_out(big_words), big_in(big_words))
  end subroutine cycle_init

  ! Ring neighbours exchange a word with MPI_Sendrecv, and half the state
  ! as a strided datatype with MPI_Isend/MPI_Irecv.
  subroutine ring_step(it)
    integer, intent(in) :: it
    integer :: right, left, ierr, i
    integer(8) :: out(1), in(1)
    integer :: req(2)
    integer :: st(MPI_STATUS_SIZE, 2)

    right = mod(rank + 1, nranks)
    left = mod(rank + nranks - 1, nranks)
    out(1) = state(mod(it, cells) + 1)
    in(1) = 0
    call MPI_Sendrecv(out, 1, MPI_INTEGER8, right, tag_ring, in, 1, MPI_INTEGER8, left, &
                      tag_ring, MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    call check(ierr, 'MPI_Sendrecv')
    state(mod(it * 7, cells) + 1) = ieor(state(mod(it * 7, cells) + 1), mix(in(1) + it))
    call MPI_Irecv(vec_in, 1, every_other, left, tag_vec, MPI_COMM_WORLD, req(1), ierr)
    call check(ierr, 'MPI_Irecv vector')
    call MPI_Isend(state, 1, every_other, right, tag_vec, MPI_COMM_WORLD, req(2), ierr)
    call check(ierr, 'MPI_Isend vector')
    call MPI_Waitall(2, req, st, ierr)
    call check(ierr, 'MPI_Waitall vector')
    if (st(MPI_SOURCE, 1) /= left) then
      write (error_unit, '(a,i0,a,i0)') 'mpi_cycle_f: vector from ', st(MPI_SOURCE, 1), &
        ', expected ', left
      call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
    end if
    do i = 1, cells, 2
      state(mod(i, cells) + 1) = state(mod(i, cells) + 1) + vec_in(i)
    end do
  end subroutine ring_step

  ! Every rank sends one word to rank 0, which takes them as they come with
  ! MPI_ANY_SOURCE; the sum weighted by the sender is order-independent.
  subroutine gather_any(it)
    integer, intent(in) :: it
    integer(8) :: v(1), got(1), total
    integer :: st(MPI_STATUS_SIZE)
    integer :: ierr, i

    v(1) = mix(state(mod(it * 13, cells) + 1) + rank)
    if (rank == 0) then
      total = v(1)
      do i = 1, nranks - 1
        call MPI_Recv(got, 1, MPI_INTEGER8, MPI_ANY_SOURCE, tag_any, MPI_COMM_WORLD, st, ierr)
        call check(ierr, 'MPI_Recv any')
        total = total + got(1) * (st(MPI_SOURCE) + 1)
      end do
      state(1) = ieor(state(1), total)
    else
      call MPI_Send(v, 1, MPI_INTEGER8, 0, tag_any, MPI_COMM_WORLD, ierr)
      call check(ierr, 'MPI_Send any')
    end if
  end subroutine gather_any

  subroutine collectives(it)
    integer, intent(in) :: it
    integer(8) :: mine(1), all(1), half_x(1), root_word(1), send2(2)
    integer(8), allocatable :: gathered(:)
    integer :: ierr, r

    mine(1) = mix(state(mod(it * 5, cells) + 1))
    root_word(1) = state(mod(it, cells) + 1)
    call MPI_Allreduce(mine, all, 1, MPI_INTEGER8, MPI_SUM, MPI_COMM_WORLD, ierr)
    call check(ierr, 'MPI_Allreduce')
    call MPI_Bcast(root_word, 1, MPI_INTEGER8, mod(it, nranks), MPI_COMM_WORLD, ierr)
    call check(ierr, 'MPI_Bcast')
    call MPI_Allreduce(mine, half_x, 1, MPI_INTEGER8, MPI_BXOR, half, ierr)
    call check(ierr, 'MPI_Allreduce half')
    send2 = [mine(1), ieor(mine(1), all(1))]
    allocate (gathered(2 * nranks))
    call MPI_Allgather(send2, 2, MPI_INTEGER8, gathered, 2, MPI_INTEGER8, MPI_COMM_WORLD, ierr)
    call check(ierr, 'MPI_Allgather')
    associate (a => state(mod(it * 3 + 1, cells) + 1), b => state(mod(it * 11 + 2, cells) + 1))
      a = a + ieor(all(1), root_word(1))
      b = ieor(b, half_x(1))
    end associate
    do r = 0, nranks - 1
      associate (s => state(mod(it + r, cells) + 1))
        s = s + gathered(2 * r + 1) + mix(gathered(2 * r + 2) + r)
      end associate
    end do
    deallocate (gathered)
  end subroutine collectives

  ! A 4 MiB message from each rank to its right neighbour, left in flight
  ! across the sleep so that a checkpoint can find it there.
  subroutine big_start(it)
    integer, intent(in) :: it
    integer :: right, left, ierr, i

    right = mod(rank + 1, nranks)
    left = mod(rank + nranks - 1, nranks)
    do i = 1, big_words
      big_out(i) = mix(int(it, 8) * big_words + i + state(mod(i, cells) + 1))
    end do
    call MPI_Irecv(big_in, big_words, MPI_INTEGER8, left, tag_big, MPI_COMM_WORLD, &
                   big_req(1), ierr)
    call check(ierr, 'MPI_Irecv big')
    call MPI_Isend(big_out, big_words, MPI_INTEGER8, right, tag_big, MPI_COMM_WORLD, &
                   big_req(2), ierr)
    call check(ierr, 'MPI_Isend big')
  end subroutine big_start

  subroutine big_finish()
    integer(8) :: h
    integer :: ierr, i

    call MPI_Waitall(2, big_req, MPI_STATUSES_IGNORE, ierr)
    call check(ierr, 'MPI_Waitall big')
    h = 0
    do i = 1, big_words
      h = mix(ieor(h, big_in(i)))
    end do
    state(cells) = ieor(state(cells), h)
  end subroutine big_finish

  subroutine cycle_iter(it, sleep_time)
    integer, intent(in) :: it, sleep_time
    logical :: with_big

    with_big = mod(it, 16) == 0
    if (with_big) call big_start(it)
    call ring_step(it)
    call gather_any(it)
    call collectives(it)
    call sleep_ms(sleep_time)
    if (with_big) call big_finish()
    if (rank == 0 .and. mod(it, 10) == 0) then
      write (output_unit, '(a,i0)') 'iter ', it
      flush (output_unit)
    end if
  end subroutine cycle_iter

  subroutine cycle_report()
    integer(8) :: h(1), all(1)
    integer :: ierr, i

    h(1) = 0
    do i = 1, cells
      h(1) = mix(ieor(h(1), state(i)))
    end do
    write (output_unit, '(a,i0,a,z16.16)') 'rank ', rank, ' state ', h(1)
    flush (output_unit)
    call MPI_Reduce(h, all, 1, MPI_INTEGER8, MPI_BXOR, 0, MPI_COMM_WORLD, ierr)
    call check(ierr, 'MPI_Reduce')
    if (rank == 0) then
      write (output_unit, '(a,z16.16)') 'result ', all(1)
      flush (output_unit)
    end if
  end subroutine cycle_report

  subroutine cycle_end()
    integer :: ierr

    call MPI_Type_free(every_other, ierr)
    call check(ierr, 'MPI_Type_free')
    call MPI_Comm_free(half, ierr)
    call check(ierr, 'MPI_Comm_free')
    deallocate (big_out, big_in)
  end subroutine cycle_end

end module cycle_f

program mpi_cycle_f
  use mpi
  use cycle_f
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  character(32) :: arg
  integer :: iters, sleep_time, it, ierr, st

  if (command_argument_count() /= 2) then
    write (error_unit, '(a)') 'usage: mpi_cycle_f ITERATIONS SLEEP_MS'
    error stop 2
  end if
  call get_command_argument(1, arg)
  read (arg, *, iostat=st) iters
  if (st /= 0) error stop 'mpi_cycle_f: ITERATIONS is not a number'
  call get_command_argument(2, arg)
  read (arg, *, iostat=st) sleep_time
  if (st /= 0) error stop 'mpi_cycle_f: SLEEP_MS is not a number'
  call MPI_Init(ierr)
  if (ierr /= MPI_SUCCESS) error stop 'mpi_cycle_f: MPI_Init failed'
  call cycle_init()
  do it = 0, iters - 1
    call cycle_iter(it, sleep_time)
  end do
  ! A test may hold every rank here until it lets the run end.
  call end_gate()
  call cycle_report()
  call cycle_end()
  call MPI_Finalize(ierr)
  if (ierr /= MPI_SUCCESS) error stop 'mpi_cycle_f: MPI_Finalize failed'
end program mpi_cycle_f
