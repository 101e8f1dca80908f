export async function runMicro(quick: boolean): Promise<void> {
  void quick;
  await Promise.resolve();
}
