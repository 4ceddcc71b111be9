; Boot sector for MonitorQemuComparisonTests (nasm -f bin paged-halt.asm): a fixed CPU state that QEMU and MiniVM
; must show alike. It masks every IRQ, loads the FPU with 1 and pi, builds page tables (a 4 KiB-page table for the
; first 4 MiB with a read-only user alias of 0x7000 at 0x300000, and a 4 MiB PSE page at 0x400000 -> 0), enters
; 32-bit protected mode with paging, touches the 4 MiB page, sets every general register and halts with IF=0.
; After its data, at 0x7d00, instructions it never runs, for the `x /i` comparison in 32-bit code.
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    mov al, 0xff
    out 0x21, al
    out 0xa1, al
    fninit
    fld1
    fldpi
    ; page directory at 0x9000, page table at 0xA000, both zeroed first
    mov di, 0x9000
    xor eax, eax
    mov cx, 0x800
    cld
    rep stosd
    mov dword [0x9000], 0xA007          ; PDE 0: page table, user, writable
    mov dword [0x9004], 0x00000083      ; PDE 1: 4 MiB page at 0, supervisor, writable
    mov di, 0xA000
    mov eax, 0x00000003
    mov cx, 256                         ; identity map the first MiB, supervisor, writable
fill:
    mov [di], eax
    add eax, 0x1000
    add di, 4
    loop fill
    mov dword [0xA000 + 0x300 * 4], 0x7005   ; 0x300000 -> 0x7000, user, read-only
    lgdt [gdtr]
    mov eax, 0x9000
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                        ; PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000001                  ; PG | PE
    mov cr0, eax
    jmp 0x08:pm
bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x6ff0
    mov eax, [0x407c00]                 ; read through the 4 MiB page: its PDE gets the accessed bit
    mov eax, 0x11223344
    mov ebx, 0x55667788
    mov ecx, 0x99aabbcc
    mov edx, 0xddeeff00
    mov esi, 0x01234567
    mov edi, 0x89abcdef
    mov ebp, 0xfedcba98
    cmp eax, ebx                        ; flags: S, C (0x11223344 - 0x55667788 borrows)
    cli
halt:
    hlt
    jmp halt
    align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff               ; 0x08: code, 4 GiB, 32-bit
    dq 0x00cf93000000ffff               ; 0x10: data, 4 GiB
gdtr:
    dw gdtr - gdt - 1
    dd gdt
data:
    db 'A', 0x27, 0x5c, 0x0a, 0x0d, 0x00, 0xff, 0x80, 'z', 0x7f, 0x20, 0x01, 0xfe, 0xca, 0xbe, 0xba
    align 16
instructions:                           ; 0x7d00, never executed: what `x /i` disassembles in 32-bit code
    mov eax, 0x12345678                 ; immediates: full-size ones unsigned, sign-extended imm8 signed
    mov ax, 0xffff
    mov byte [eax], 0x80
    mov dword [0x1000], 1               ; ten bytes: the listing continues on a second line
    add ebx, -16
    and eax, 0xfffffff0
    or eax, -1
    test word [ebx], 0x8000
    push -1
    push 0xffffff00
    imul eax, ebx, -3
    mov [ebx+esi*4+0x10], eax           ; memory forms: base+index*scale+disp, negative disp, absolute
    mov ecx, [ebp-8]
    movsx edx, word [ebx+ecx*2-0x20]
    movzx eax, byte [esi]
    lea eax, [ecx*4+0x10]
    mov eax, [esp]
    mov eax, [es:ebx]                   ; segment overrides, the default one included
    mov eax, [fs:0x30]
    mov al, [ss:ebp+4]
    mov eax, [ds:ebx]
    call $+0x80                         ; jumps and calls: near, short, conditional, indirect, far
    jmp $-0x20
    jz $+0x100
    jmp short $+2
    call [eax+4]
    jmp eax
    jmp 0x08:0x7c00
    call far [ebx]
    ret 8
    retf
    loop $
    rep movsb                           ; string instructions name ES
    repne scasb
    stosd
    xchg eax, ecx
    int 0x10
    in al, 0x60
    out 0xff, al
    shl eax, 1
    enter 0xfff0, 1
    leave
    setne al
    fadd st0, st3                       ; x87 register forms
    fadd st3, st0
    faddp st1
    fcomi st0, st1
    fldcw [eax]
    fstp qword [ebx+8]
    lgdt [0x7c80]
    mov cr0, eax
    times 510 - ($ - $$) db 0
    dw 0xaa55
