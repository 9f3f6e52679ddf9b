/* The smallest program that faults: a seed core for pyfault's core reader. */
void _start(void)
{
	*(volatile int *)0 = 0;
}
