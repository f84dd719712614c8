! t_fortran.f90 - the gfortran runtime through checkpoint/restart: module
! arrays allocated at run time, formatted output to stdout (flushed per
! step) and to a file unit kept open across every checkpoint, read back at
! the end. Each step checks its sum against one recomputed from scratch;
! the file must hold exactly one line per step, in order. Exit 0 only if
! every check passed (stop 1 otherwise).
module state
  implicit none
  integer, parameter :: steps = 40, n = 200000
  real(8), allocatable :: a(:)
  real(8) :: running = 0d0
end module state

program t_fortran
  use state
  implicit none
  interface
    subroutine end_gate_c() bind(c, name='end_gate_c')
    end subroutine end_gate_c
    subroutine pause_ms_c(ms) bind(c, name='pause_ms_c')
      use iso_c_binding, only: c_int
      integer(c_int), value :: ms
    end subroutine pause_ms_c
  end interface
  character(len=4096) :: gate, path
  integer :: step, glen, gstat

  call get_environment_variable('CKPT_TEST_END_GATE', gate, glen, gstat)
  if (gstat == 0 .and. glen > 0) then
    path = gate(1:glen) // '.fortran'
  else
    path = 't_fortran.dat'
  end if
  allocate(a(n))
  open(unit=10, file=trim(path), status='replace', action='readwrite', form='formatted')
  do step = 1, steps
    call one_step(step)
    if (step == steps) call end_gate_c()
    write(*, '(a, i0, a, es24.16)') 'step ', step, ': ', running
    flush(6)
    call pause_ms_c(20)
  end do
  call check_file(steps)
  close(10, status='delete')
  deallocate(a)
contains
  subroutine one_step(step)
    integer, intent(in) :: step
    integer :: i
    real(8) :: s, want

    do i = 1, n
      a(i) = sin(dble(i) * 1d-3 + dble(step))
    end do
    s = sum(a)
    want = 0d0
    do i = 1, n
      want = want + sin(dble(i) * 1d-3 + dble(step))
    end do
    if (abs(s - want) > 1d-6 * max(1d0, abs(want))) then
      write(*, '(a, i0, a, es24.16, a, es24.16)') 'FAIL step ', step, ': sum ', s, ' want ', want
      stop 1
    end if
    running = running + s
    write(10, '(i0, 1x, es24.16)') step, s
  end subroutine one_step

  subroutine check_file(last)
    integer, intent(in) :: last
    integer :: k, got, ios
    real(8) :: v

    rewind(10)
    do k = 1, last
      read(10, *, iostat=ios) got, v
      if (ios /= 0 .or. got /= k) then
        write(*, '(a, i0, a, i0, a, i0)') 'FAIL file line ', k, ': read ', got, ' status ', ios
        stop 1
      end if
    end do
    read(10, *, iostat=ios) got, v
    if (ios == 0) then
      write(*, '(a, i0)') 'FAIL file: a line after the last step: ', got
      stop 1
    end if
    write(*, '(a, i0, a)') 'file: ', last, ' lines in order'
  end subroutine check_file
end program t_fortran
